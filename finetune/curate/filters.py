"""LIMA-style filters, each off unless asked for: reply length bounds in characters, replies that
refer to other content (LIMA removed answers that say "as mentioned" or point at links, and
answers that are only links), and HTML remnants. A dialogue is judged by every reply in it."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from finetune.curate.pool import Row

REFERENCES = re.compile(
    r"\b(as (i )?(mentioned|said|stated|noted|shown|described|discussed) (above|before|earlier|previously)|"
    r"(see|refer to|check) (the )?(above|below|link|previous|other) (answer|post|comment|reply|link)s?|"
    r"(the|my) (previous|other|above) (answer|post|comment|reply)|"
    r"(in|from) the (comments?|question) above|as per the (link|comments?))\b",
    re.IGNORECASE,
)
URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
HTML = re.compile(
    r"</?(p|div|span|br|a|b|i|em|strong|ul|ol|li|table|tr|td|th|h[1-6]|img|font|blockquote|pre|code)\b[^>]*>"
    r"|&(nbsp|amp|lt|gt|quot|#\d+|#x[0-9a-f]+);",
    re.IGNORECASE,
)
_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)


@dataclass
class Filters:
    min_reply_chars: int | None = None
    max_reply_chars: int | None = None
    no_references: bool = False
    no_html: bool = False

    @property
    def active(self) -> bool:
        return any(v not in (None, False) for v in asdict(self).values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def reason(self, row: Row) -> str | None:
        for reply in row.replies:
            n = len(reply.strip())
            if self.min_reply_chars is not None and n < self.min_reply_chars:
                return f"reply of {n} characters is under --min-reply-chars {self.min_reply_chars}"
            if self.max_reply_chars is not None and n > self.max_reply_chars:
                return f"reply of {n} characters is over --max-reply-chars {self.max_reply_chars}"
            if self.no_references:
                why = refers_elsewhere(reply)
                if why:
                    return why
            if self.no_html:
                m = HTML.search(_CODE.sub("", reply))
                if m:
                    return f"HTML remnant {m.group(0)[:20]!r} in a reply (--no-html)"
        return None


def refers_elsewhere(reply: str) -> str | None:
    m = REFERENCES.search(reply)
    if m:
        return f"reply refers to other content ({m.group(0)!r}; --no-references)"
    rest = URL.sub("", reply)
    if URL.search(reply) and len(re.sub(r"[\W_]+", "", rest)) < 20:
        return "reply is only links (--no-references)"
    return None
