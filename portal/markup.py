"""Markdown rendered once at write time and sanitised with an allow-list (nh3)."""

import re
import threading

import markdown
import nh3
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "del",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "th": {"align"}, "td": {"align"}}
# No images at all: an external image is a tracking pixel.
URL_SCHEMES = {"http", "https", "mailto"}


class _ImagesAsText(Treeprocessor):
    """An image becomes its alt text, and a link never ends up without a name.

    Images are not allowed, so without this `[![build](badge.png)](https://ci.example)`
    would leave an empty link: focusable, yet silent for screen readers.
    """

    def run(self, root):
        for parent in list(root.iter()):
            for index, child in reversed(list(enumerate(parent))):
                if child.tag == "img":
                    text = (child.get("alt") or "") + (child.tail or "")
                    if index:
                        previous = parent[index - 1]
                        previous.tail = (previous.tail or "") + text
                    else:
                        parent.text = (parent.text or "") + text
                    parent.remove(child)
        for link in root.iter("a"):
            if not "".join(link.itertext()).strip():
                link.text = link.get("href") or ""


class _ImagesAsTextExtension(Extension):
    """Runs `_ImagesAsText` after python-markdown's inline patterns."""

    def extendMarkdown(self, md):
        md.treeprocessors.register(_ImagesAsText(md), "images_as_text", 15)  # after inline


_converters = threading.local()


def _converter():
    """This thread's Markdown converter (building one costs more than most conversions)."""
    if not hasattr(_converters, "md"):
        _converters.md = markdown.Markdown(
            extensions=["fenced_code", "tables", "sane_lists", _ImagesAsTextExtension()]
        )
    return _converters.md


def render_markdown(text):
    """Safe HTML for user Markdown: no script, no styles, no images, no hx-* attributes."""
    html = _converter().reset().convert(text or "")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def escape_markdown(text):
    """Plain text (a name, a title) made safe to sit inside Markdown, e.g. in a system line."""
    return re.sub(r"([\\`*_\[\]<>#|~!])", r"\\\1", text)


def quote_markdown(text):
    """Plain text as a Markdown block quote, escaped line by line."""
    return "\n".join(f"> {escape_markdown(row)}" for row in text.strip().splitlines())
