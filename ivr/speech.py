"""What a caller means by what they said at a menu: a key, a keyword, a person.

Speech recognition hands the line a sentence ("不要退款，我要人工", "press two",
"I want to speak to a human"); a menu needs one of its keys. Think of a
receptionist listening for a few things, in this order:

1. **A person.** A person word of the menu (人工, 客服, agent, human...) that is
   not negated wins over everything else: nobody has to ask twice.
2. **A key named as a key.** "按2", "选2", "二号", "2号键", "第二个", "press two",
   "option 2", "number two", "the second one" name key 2 (an ordinal is the key
   of that number), wherever they are in the sentence.
3. **An option's keyword**, not negated, anywhere in the sentence ("我想退款"
   matches 退款); of several, the one said first, then the longest.
4. **A lone key**: the whole sentence is a key ("2", "二", "two", "zero"), give
   or take a "please" or a "吧".

**Negation.** "不要退款" does not pick refunds: a negation (不要, 不想, 不用,
不需要, 不是, 别, 无需, 不必 / don't want, do not want, don't need, not, no,
never) cancels the keyword right after it, with only small words between (给我,
帮我, 再, 找 / a, the, my, to, get, speak to...). It cancels that keyword only:
in "不要退款，我要人工" the person is asked for.

Matching ignores case, full/half width and punctuation; Latin keywords match
whole words (an ``s`` plural included: "refunds" is "refund"), Chinese ones
anywhere. Pure functions, no I/O.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["PERSON", "normalise", "understand", "wants_person"]

PERSON = "person"  # what ``understand`` answers for a request for a person

_CLAUSE = re.compile(r"[，。！？、；：,.!?;:…\n\r\t\"“”「」()（）]+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")

# Keys as said: digits, Chinese numerals, English number words, * and #.
_KEY_WORDS = {
    "零": "0", "〇": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3",
    "四": "4", "五": "5", "六": "6", "七": "7", "八": "8", "九": "9",
    "zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
    "star": "*", "pound": "#", "hash": "#", "星号": "*", "井号": "#",
    **{d: d for d in "0123456789*#"},
}  # fmt: skip
_ORDINALS = {
    "first": "1", "second": "2", "third": "3", "fourth": "4", "fifth": "5",
    "sixth": "6", "seventh": "7", "eighth": "8", "ninth": "9",
}  # fmt: skip
_NUMERAL = "0-9零〇一幺二两三四五六七八九十"
_ZH_KEY = rf"(星号|井号|[*#]|[{_NUMERAL[:-1]}])"
_EN_KEY = (
    r"([0-9*#]|zero|oh|one|two|three|four|five|six|seven|eight|nine|star|pound|hash)"
)
_ORD = r"(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth)"
_NAMED_KEY = (
    # 按2, 摁二, 选2, 选择2号, 按数字2, 按井号键
    re.compile(
        rf"(?:按|摁|拨|选择?|点)\s*(?:数字\s*)?{_ZH_KEY}(?![{_NUMERAL}])\s*(?:号|键)?"
    ),
    # 二号, 2号, 0键 (not 号码: a phone number)
    re.compile(rf"(?<![{_NUMERAL}]){_ZH_KEY}\s*(?:号(?!码)|键)"),
    # 第二个, 第2项
    re.compile(rf"第\s*{_ZH_KEY}\s*(?:个|项|条|种|号|选项)"),
    # press two, option 2, number two, choose the number 3, hit star
    re.compile(
        r"(?<![a-z0-9])(?:press|push|hit|dial|select|choose|pick|option|number"
        rf"|choice|key|button)\s+(?:the\s+)?(?:number\s+|key\s+|button\s+)?{_EN_KEY}"
        r"(?![a-z0-9])"
    ),
    # the second one, second option, the third choice
    re.compile(rf"(?<![a-z0-9])(?:the\s+)?{_ORD}\s+(?:one|option|choice)(?![a-z0-9])"),
    re.compile(rf"(?<![a-z0-9])the\s+{_ORD}\s*$"),
)
# Said around a lone key: "2吧", "请按", "two please", "um, two".
_ZH_FILLERS = re.compile(
    r"^(?:请|嗯|呃|那个|我要|我选|我想|就|选)+|(?:吧|啊|呢|了|谢谢)+$"
)
_EN_FILLERS = frozenset({
    "um", "uh", "er", "erm", "ok", "okay", "please", "thanks", "thank", "you", "just",
    "so", "well",
})  # fmt: skip

# A negation, and the small words that may stand between it and what it cancels.
_NEGATION = re.compile(
    r"不要|不想|不用|不需要|不是|(?<![特区识分级类告辨鉴性])别|无需|不必|甭"
    r"|(?<![a-z])(?:don'?t|do not|does not|doesn'?t)\s+(?:want|need)(?![a-z])"
    r"|(?<![a-z])(?:not|no|never)(?![a-z'])"
)
_ZH_SMALL = re.compile(r"给我|帮我|为我|替我|再|去|找|要|了|的|个|一下|办理|申请|跟|和")
_EN_SMALL = frozenset({
    "a", "an", "the", "my", "any", "to", "get", "about", "for", "with", "speak",
    "talk", "talking", "speaking", "another", "some", "this", "that", "it",
})  # fmt: skip


def normalise(text: str) -> str:
    """Lower case, full width to half width, curly quotes straight, one space."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    return " ".join(text.split())


def _clauses(speech: str) -> list[str]:
    return [c.strip() for c in _CLAUSE.split(normalise(speech)) if c.strip()]


@dataclass(frozen=True)
class _Match:
    start: int
    end: int
    target: str  # an option key, or PERSON


@functools.lru_cache(maxsize=4096)
def _pattern(word: str) -> re.Pattern[str] | None:
    """A keyword as a pattern: Chinese anywhere, Latin as whole words."""
    word = normalise(word)
    if not word:
        return None
    if _CJK.search(word):
        chars = [re.escape(ch) for ch in word if not ch.isspace()]
        return re.compile(r"\s*".join(chars))
    words = r"\s+".join(re.escape(w) for w in word.split())
    return re.compile(rf"(?<![a-z0-9]){words}(?:s|es)?(?![a-z0-9])")


def _keywords(
    clause: str, targets: Sequence[tuple[str, Sequence[str]]]
) -> list[_Match]:
    """The keywords heard in ``clause``: left to right, the longest at each place,
    none overlapping another."""
    found = []
    for target, words in targets:
        for word in words:
            pattern = _pattern(word)
            if pattern is None:
                continue
            for hit in pattern.finditer(clause):
                found.append(_Match(hit.start(), hit.end(), target))
    found.sort(key=lambda m: (m.start, -(m.end - m.start)))
    kept: list[_Match] = []
    for match in found:
        if not kept or match.start >= kept[-1].end:
            kept.append(match)
    return kept


def _negated(clause: str, match: _Match) -> bool:
    """Whether a negation right before ``match`` cancels it."""
    for cue in _NEGATION.finditer(clause, 0, match.start):
        gap = clause[cue.end() : match.start]
        if _CJK.search(gap):
            rest = _ZH_SMALL.sub("", gap)
            if not rest.strip():
                return True
        elif all(word in _EN_SMALL for word in gap.split()):
            return True
    return False


def _named_key(clauses: Iterable[str]) -> str | None:
    """The first key named as a key ("按2", "press two", "the second one")."""
    for clause in clauses:
        best: tuple[int, str] | None = None
        for pattern in _NAMED_KEY:
            hit = pattern.search(clause)
            if hit is not None and (best is None or hit.start() < best[0]):
                said = hit.group(1)
                key = _ORDINALS.get(said) or _KEY_WORDS.get(said.replace(" ", ""))
                if key is not None:
                    best = (hit.start(), key)
        if best is not None:
            return best[1]
    return None


def _lone_key(clauses: Sequence[str]) -> str | None:
    """The key the whole utterance is, give or take a filler word."""
    if _CJK.search(" ".join(clauses)):
        said = _ZH_FILLERS.sub("", "".join("".join(clauses).split()))
        return _KEY_WORDS.get(said)
    words = [w for c in clauses for w in c.split() if w not in _EN_FILLERS]
    if len(words) == 1:
        return _KEY_WORDS.get(words[0])
    return None


def understand(
    speech: str,
    options: Sequence[tuple[str, Sequence[str]]] = (),
    person_words: Sequence[str] = (),
) -> str | None:
    """What ``speech`` asks for: ``PERSON``, a key, or None (not understood).

    ``options`` are (key, keywords) of the menu's options; ``person_words`` the
    menu's words for a person. The order of the rules is in the module's
    docstring. A key is answered even when the menu has no such option (the
    menu then says the choice is not valid).
    """
    clauses = _clauses(speech)
    if not clauses:
        return None
    targets = [(PERSON, tuple(person_words)), *options]
    heard = [
        match
        for clause in clauses
        for match in _keywords(clause, targets)
        if not _negated(clause, match)
    ]
    if any(match.target == PERSON for match in heard):
        return PERSON
    named = _named_key(clauses)
    if named is not None:
        return named
    if heard:
        return heard[0].target
    return _lone_key(clauses)


def wants_person(speech: str, person_words: Sequence[str]) -> bool:
    """Whether ``speech`` asks for a person (a person word, not negated)."""
    return bool(person_words) and understand(speech, (), person_words) == PERSON
