"""A realistic brand and creator conversation for the demo workroom (deterministic)."""

import random
from datetime import timedelta

from portal.database import utcnow

OPENERS = [
    "Morning! Quick update on the **{item}**.",
    "Just uploaded the first cut of the {item}, have a look when you can.",
    "Can we push the {item} by a day? The weather on the ridge was awful.",
    "Loved the angle in the {item}. One small thing: keep the logo visible for 2 seconds.",
    "Reminder: the {item} goes live on Thursday, 18:00 CET.",
    "Here are the stats from the {item} after 48 hours: 41k views, 3.2k likes, 210 saves.",
    "Legal asked us to add *#ad* at the very start of the caption for the {item}.",
    "Shot list for the {item}:\n\n1. Trailhead wide\n2. Boots close-up\n3. Summit pan",
    "The jacket arrived, fits great. Planning the {item} for the weekend.",
    "Could you tag @northwind.outdoors in the {item}? Thanks!",
    "Sending the draft caption for the {item}:\n\n> Three days, one backpack, zero regrets.",
    "We'd like a second take of the {item} with the sunrise light, if possible.",
]
REPLIES = [
    "Sounds good, thanks!",
    "Done, updated.",
    "On it.",
    "Perfect, approved from our side.",
    "Let me check with the team and come back to you.",
    "Yes, that works for me.",
    "Great shots 🙌",
    "I'll send the raw files tonight.",
]
ITEMS = ["trail reel", "gear story", "summit post", "packing video", "TikTok teaser", "blog recap"]


def seed_conversation(brand_people, creator, *, post, reply, edit, note, count=220):
    """Post `count` messages through the given callables, oldest first, over 30 days."""
    rng = random.Random(2026)
    start = utcnow() - timedelta(days=30)
    step = timedelta(days=30) / count
    roots = []
    for n in range(count):
        when = start + step * n
        brand_turn = n % 3 != 1
        author = rng.choice(brand_people) if brand_turn else creator
        if roots and n % 4 == 3:
            reply(rng.choice(roots[-5:]), author, rng.choice(REPLIES), when)
            continue
        text = rng.choice(OPENERS).format(item=rng.choice(ITEMS))
        message = post(author, text, when)
        roots.append(message)
        if n % 37 == 5:
            edit(message, author, text + "\n\n_Edit: times are CET._", when + step / 2)
    note(
        brand_people[0],
        "Internal: Cora's numbers beat the last campaign by 30%. Let's offer a renewal early.",
        start + step * (count - 1),
    )
