"""Recognise JobTech occupations, skills and SSYK-4 group labels mentioned in free Swedish text.

Like JobTech's JobAd Enrichments, but offline and rule based: the taxonomy's labels become a
lexicon of word sequences, and a text's words are compared with them tolerantly. Each
distinct spelling of a word is analysed once and cached, so reading a text costs a few
dictionary look-ups a word.

How a text word is compared with a label word, from closest to loosest (`_SAME` ...):

- *Same word*: NFC, soft hyphens removed, lower case; words are runs of letters and digits
  ("A-truckar" is two words). Inflections count as the same word ("lagerarbetaren",
  "lagret" ~ "lager", "kock" ~ the plural "Kockar"). A word ending in a hyphen before
  "och"/"eller"/"samt" is an elided compound: "lager- och terminalarbete" says
  "lagerarbete".
- *Compound of the same family*: a compound ending in a known head is compared as
  (modifier, family). Job heads (jobb, arbete, arbetare, medarbetare, personal, biträde,
  hjälp, assistent, lärling, skötare, skötsel, vård) make "lagerjobb" ~ "lagerarbetare" ~
  "lagerpersonal" and "djurskötsel" ~ "djurskötare"; vehicle heads (förare, kort, körkort,
  körning, chaufför, förarbevis) make "truckkort" ~ "truckförare" ~ "truckkörning".
  Experience heads (vana, erfarenhet, kunskap, kännedom) are transparent: the skill
  "Truckvana" is named by "truck", "truckkort" or "köra truck". A bare modifier never
  names a compound ("lager" is not "Lagerchef"); "X-jobb/-arbete/-personal/-lärling" also
  names the occupation of X ("städjobb" -> "Städare", "målarlärling" -> "Målare"); a
  service ("hemtjänst") is a sector, not a person. A compound with no occupation of its
  own that ends in a one-word occupation names it ("skolstädare" -> "Städare").
- *Phrases read as compounds*: "arbeta med djur" = "djurarbete", "jobba på ett lager" =
  "lagerjobb", "säljare till vår butik" = "butikssäljare", "köra truck" = "truckkörning",
  and a plain verb with its object when that makes a label word ("putsa fönster" =
  "Fönsterputsning").
- *Derivation*: Snowball Swedish stems, with activity endings removed ("-ning", "-sel"),
  join agent, verb and activity ("städare" ~ "städar" ~ "städning"). Both words must be the
  shared root (four letters or more) plus a Swedish verb, activity or agent ending, and a
  text word that is the bare root as a noun never matches: "disk"/"disken" is not
  "diskare", "Office" is not "Officer", "bakning" is not "Bakelser". A verb names an
  occupation only when it says where ("städar på kontor", "diskar i restaurangkök"; not
  "fiskar gärna").

What guards against false matches: label words in capitals ("MAN", "REST") match only the
same word in capitals, and so do one-word labels that are everyday words ("Såg", "Alt");
everyday words ("vara", "kan", "gärna", "arbete") never start a match; a lone letter is no
label; on the same words the closest occupation wins ("fastighetsskötsel" is
"Fastighetsskötare", not also "Fastighetsassistent").

How a label is read:

- "/" separates alternative names ("Servitör/Servitris") when a capital follows it, not
  inside a name ("Fast food/snabbmat", "Styr/400"). Residual "m.fl." is dropped.
- Text after the first comma is a *qualifier* ("Maskinskötsel, textilindustrin"), and so
  are the lower-case words after an agent noun in an occupation label ("Djurskötare
  lantbruk") and a parenthesis that names a standard or would leave one everyday word
  ("Arbetsmiljö (OHSAS 18001)", "Miljö (Trafikverkets kravkurs)"); other parentheses
  explain and are dropped ("God fysik (tunga lyft)"). A qualifier's items (split at ","
  and "och") are alternatives: a skill's must be within `window` words of its core; an
  occupation's anywhere in the text (an opening or a profile is about one job), where a
  compound of it also counts ("Maskinoperatör tvätteri"). After a generic core ("Lärling,
  bergarbetare, bygg och anläggning") the first qualifier is required.
- The core without its qualifier is treated per kind, deliberately. A skill: nothing, since
  "diskning" alone is not "Diskning, laboratorium" and a core shared by many qualified
  skills ("Verksamhetsledning, ...") would flood the result; except a product or language
  whose qualifier only says what kind of thing it is, written as a name ("Python" for
  "Python, programmeringsspråk", but not "python" the snake). An occupation or a group: a
  match that is not exact, when the core is said plainly (not derived), no unqualified
  label has the same core, the core is not generic, and at most `max_core_only` labels
  share it ("djurskötare" -> "Djurskötare lantbruk"; "undersköterska" -> both
  "Undersköterska, ..."); a more ambiguous core ("Arbetsledare", "Lärling") gives nothing.
- SSYK-4 group labels are plural and coordinated: "Lager- och terminalpersonal" is
  "lagerpersonal" or "terminalpersonal", "Översättare, tolkar och lingvister" three names.
  Residual groups ("Övriga kontorsassistenter och sekreterare") are matched only by their
  own specific compounds ("kontorsassistenter"), never by a word that begins other labels.

`Mention.exact` is True when every label word matched as the same word (inflections
included) and the qualifier, if any, was found. When a text names no occupation and no
group, `Concepts.inferred_group` is the group that two or more of its skills point to (a
skill in n groups counts 1/n). A few synonyms the taxonomy lacks are in `_SYNONYMS`
("lokalvård" = "städning", "café" = "kafé", "butiksmedarbetare" = "butikssäljare").
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Final, Literal

import snowballstemmer  # type: ignore[import-untyped]

from matching.taxonomy import Occupation, Taxonomy

Kind = Literal["occupation", "skill", "group"]


@dataclass(frozen=True, slots=True)
class Mention:
    """One concept found in a text, with the words that named it."""

    concept_id: str  # occupation id, skill id, or SSYK code for a group-label mention
    kind: Kind
    label: str  # the taxonomy's label
    surface: str  # the words of the text that matched, as written
    exact: bool  # whole label matched (True) or a tolerant/compound/head match (False)


@dataclass(frozen=True)
class Concepts:
    """What a text is about, in taxonomy terms."""

    occupations: frozenset[str]  # occupation ids
    skills: frozenset[str]  # skill ids
    groups: frozenset[str]  # SSYK-4 codes: of recognised occupations and group labels
    mentions: tuple[Mention, ...]  # in text order; the first mention of each concept
    #: Only when the text names no occupation and no group label: the group that at least
    #: two of its skills point to (weaker evidence than `groups`, hence kept apart).
    inferred_group: str | None = None


@dataclass(frozen=True, slots=True)
class OccupationGuess:
    """The single most likely occupation of an opening, and the words that say so."""

    occupation_id: str
    ssyk: str
    label: str
    confidence: float  # in [0, 1]
    evidence: Mention
    from_title: bool


# --- words ---------------------------------------------------------------------------------

_WORD: Final = re.compile(r"[^\W_]+")


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


_CLEAN: Final = (("\u00ad", ""), ("\u2010", "-"), ("\u2011", "-"), ("\u2013", "-"))
_CONJUNCTIONS: Final = frozenset({"och", "eller", "samt"})

#: Everyday words that never start a match (they may continue a multi-word label).
_STOPWORDS: Final = _wordset(
    """
    a alla allt alltid andra annan annat att av bara behöver bli blir bra de dem den denna
    deras dess dessa det detta dig din dina ditt du där då efter eftersom ej eller en er era
    ert ett fast finns fler flera från få får för före genom god goda gott gärna ha hade han
    har hela hen henne hennes hon honom hos hur här i ibland idag igen in inga ingen inget
    inom inte jag ju kan kanske kommer kunna kunde man med mellan men mer mest mig min mina
    mitt mot mycket många måste ned nej ni nu när någon något några och också om oss per på
    rätt samma samt se sedan sig sin sina sitt ska skall skulle som så sådan till tills
    under upp ut utan vad var vara varit vi vid vill vilka vilken vilket vår våra vårt än är
    även åt över ny nya nytt stor stora stort liten små lite mindre större bättre bästa
    arbete arbeta arbetar arbetat arbetet jobb jobba jobbar jobbat jobbet tjänst tjänsten
    tjänster erfarenhet erfarenheter kunskap kunskaper vana person personer personal
    medarbetare kollega kollegor företag företaget kund kunder ansvar uppgifter
    arbetsuppgifter krav meriterande ansökan lön heltid deltid tid dag dagar vecka veckor år
    gäller söker sökes tex bl fl mfl
    """
)

#: One-word labels that are also everyday words: matched only when written in capitals.
_HOMOGRAPHS: Final = _wordset(
    """alt bas såg luta vält skor horn rock graf visor cover show sweet stunt tutti repro
    saber manus mynt house indie soul funk swing sales komik"""
)

#: Curated synonyms the taxonomy lacks: word part -> the taxonomy's word part.
_SYNONYMS: Final = (
    ("lokalvårdar", "städar"),
    ("lokalvård", "städning"),
    ("café", "kafé"),
    ("cafe", "kafé"),
    ("kundservice", "kundtjänst"),
    # A shop's staff sell: "butiksmedarbetare" is a "butikssäljare" (but "maskinskötsel"
    # is no "maskinsäljare", so selling is no generic job head).
    ("butiksmedarbetar", "butikssäljar"),
    ("butiksbiträd", "butikssäljar"),
    ("butikspersonal", "butikssäljare"),
    ("bilmekaniker", "personbilsmekaniker"),
    ("biltvätt", "bilvård"),
)

_GENERIC, _VEHICLE, _EXPERIENCE = "GEN", "VEH", "EXP"
#: Compound heads by Snowball stem, longest first within a family.
_FAMILY_HEADS: Final = (
    ("medarbet", _GENERIC),
    ("arbet", _GENERIC),
    ("jobb", _GENERIC),
    ("personal", _GENERIC),
    ("biträd", _GENERIC),
    ("tjänst", _GENERIC),
    ("hjälp", _GENERIC),
    ("lärling", _GENERIC),
    ("assistent", _GENERIC),
    ("skötsel", _GENERIC),
    ("sköt", _GENERIC),
    ("vård", _GENERIC),
    ("körkort", _VEHICLE),
    ("körning", _VEHICLE),
    ("förarbevis", _VEHICLE),
    ("chaufför", _VEHICLE),
    ("kort", _VEHICLE),
    ("för", _VEHICLE),
    ("erfaren", _EXPERIENCE),
    ("kunskap", _EXPERIENCE),
    ("kännedom", _EXPERIENCE),
    ("van", _EXPERIENCE),
)
_FAMILY_STEMS: Final = frozenset(stem for stem, _ in _FAMILY_HEADS)
#: Verb particles are no compound modifiers: "försäljning" is not a kind of "säljare".
_VERB_PREFIXES: Final = _wordset("för be upp över under till fram ned ner utför genom")
#: Heads after which the modifier names the occupation itself: "städjobb" -> "Städare".
_JOB_HEADS: Final = ("jobb", "arbet", "personal", "lärling")
#: Verbs (by stem) whose object makes a compound with their activity noun, and whether a
#: preposition must come between: "köra truck" = "truckkörning", "jobba på lager" = "lagerjobb".
_PHRASE_VERBS: Final = {
    "arbet": ("arbete", True),
    "jobb": ("jobb", True),
    "sköt": ("skötsel", False),
    "skött": ("skötsel", False),
    "kör": ("körning", False),
    "körd": ("körning", False),
    "kört": ("körning", False),
}
#: Endings of the verbs above, of plain verbs ("putsa", "putsar") and of job words
#: ("säsongsarbetare", "kökspersonal"), to skip other words fast.
_PHRASE_HEAD_ENDINGS: Final = (
    *("a", "ar", "ör", "örde", "ört", "öter", "ötte", "ött"),
    *("are", "al", "de", "t", "p", "ent", "ling"),
)
#: "N till/på/i ... X" is read as the compound X+N: "säljare till vår butik" = "butikssäljare".
_PHRASE_LINKS: Final = _wordset("med på i inom vid till")
_DETERMINERS: Final = _wordset("en ett den det de vår vårt våra er ert era")
#: Inflectional endings, longest first.
_INFLECTIONS: Final = tuple(
    sorted(
        _wordset("arnas ernas ornas arna erna orna ens ets ans nas en et an na ar er or n t s a e"),
        key=lambda ending: (-len(ending), ending),
    )
)
_A_ENDINGS: Final = _wordset("or orna ornas ors an ans")
_INFLECTION_SET: Final = frozenset(_INFLECTIONS) | {"r", "ns"}

#: Distinct words whose analysis is kept in each cache (a few kB a word in all); a text
#: costs a few µs a known word and ~100 µs a new one.
_CACHED_WORDS: Final = 1 << 15

_local = threading.local()


def _stem(word: str) -> str:
    # A Snowball stemmer object keeps state between calls: one per thread.
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = snowballstemmer.stemmer("swedish")
    stem: str = stemmer.stemWord(word)
    return stem


#: One-word cores too generic to stand for a qualified label on their own.
_GENERIC_STEMS: Final = _FAMILY_STEMS | frozenset(
    _stem(word)
    for word in _wordset("chef ledare lärling tekniker ingenjör konsult operatör handläggare")
)


def _derive(stem: str) -> str:
    """The derivational root of a stem: activity and agent endings removed."""
    for ending in ("ning", "sel"):
        if stem.endswith(ending) and len(stem) - len(ending) >= 3:
            return stem[: -len(ending)]
    return stem


@lru_cache(maxsize=_CACHED_WORDS)
def _base_forms(word: str) -> tuple[str, ...]:
    """The word and its likely base forms: "lagret" -> lager, "djuren" -> djur."""
    forms = [word]
    for ending in _INFLECTIONS:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            base = word[: -len(ending)]
            if ending in ("n", "t") and base[-1] not in "aeiouyåäö":
                continue  # a definite -n/-t follows a vowel ("kafén"): "barn" is no "bar"
            forms.append(base)
            if base[-1] in "rln" and base[-2] not in "aeiouyåäörln":
                forms.append(base[:-1] + "e" + base[-1])
    return tuple(dict.fromkeys(forms))


def _modifier(prefix: str) -> str:
    """A compound's modifier without its linking s: "kontors" -> "kontor"."""
    if len(prefix) > 4 and prefix.endswith("s") and prefix[-2] not in "aeiouyåäös":
        return prefix[:-1]
    return prefix


def _is_inflection_of(word: str, label_word: str) -> bool:
    """Whether `word` is `label_word` or an inflected form of it (not a derivation)."""
    if word.startswith(label_word):
        rest = word[len(label_word) :]
        return not rest or rest in _INFLECTION_SET
    if label_word.endswith("a") and word.startswith(label_word[:-1]):
        return word[len(label_word) - 1 :] in _A_ENDINGS  # skola -> skolor
    if label_word.endswith("are") and word.startswith(label_word[:-1]):
        return word[len(label_word) - 1 :] in {"na", "nas"}  # städare -> städarna
    if len(label_word) > 3 and label_word[-2] == "e" and label_word[-1] in "rln":
        contracted = label_word[:-2] + label_word[-1]
        return word.startswith(contracted) and word[len(contracted) :] in _INFLECTION_SET
    return False


def _is_noun_form_of(word: str, root: str) -> bool:
    return word.startswith(root) and word[len(root) :] in _NOUN_ENDINGS


_NOUN_ENDINGS: Final = _wordset("en et n na ens ets ns erna orna arna er or t") | {""}
#: What a derivation may add to a shared root: verb forms, activity and agent nouns.
#: Present tense and infinitive, and the words that make such a verb a wish or a task.
_PRESENT_ENDINGS: Final = ("a", "ar")
_WANTING: Final = _wordset("vill att kan ska skulle brukar")
_DERIVATIONAL: Final = _wordset(
    "a ar ade at ad ande are aren arna arnas ning ningen ningar ningarna sel seln"
)


def _is_plural_of(label_word: str, word: str) -> bool:
    """ "Kockar" of "kock", "Montörer" of "montör" (but "Fysiker" is no plural of "fysik")."""
    if not label_word.startswith(word):
        return False
    ending = label_word[len(word) :]
    return ending in {"ar", "or"} or (ending == "er" and word.endswith(_ER_PLURALS))


_ER_PLURALS: Final = ("ör", "är", "ent", "ant", "ist", "log", "nom")


@dataclass(frozen=True, slots=True)
class _Analysis:
    """What matching needs to know about one distinct lower-case word."""

    keys: frozenset[str]  # stem and root, and the stems of likely base forms
    family: tuple[str, str] | None  # (modifier, family) when the word ends in a family head
    stem: str
    synonym: bool  # the keys are those of a curated synonym


@lru_cache(maxsize=_CACHED_WORDS)
def _analyse(word: str) -> _Analysis:
    synonym = False
    for part, replacement in _SYNONYMS:
        if part in word:
            word = word.replace(part, replacement, 1)
            synonym = True
            break
    stem = _stem(word)
    keys = {stem, _derive(stem)}
    if word.endswith(("et", "ets")) and len(word) > 5:
        # Snowball leaves the neuter definite alone: "lagret", "stallet", "kontoret".
        base = word[:-3] if word.endswith("ets") else word[:-2]
        keys.update(_stem(form) for form in _base_forms(base))
    family = None
    for candidate in dict.fromkeys((stem, _derive(stem))):
        for head, name in _FAMILY_HEADS:
            prefix = candidate[: -len(head)]
            if candidate.endswith(head) and len(prefix) >= 3 and prefix not in _VERB_PREFIXES:
                family = (_modifier(prefix), name)
                break
        if family:
            break
    return _Analysis(frozenset(keys), family, stem, synonym)


@lru_cache(maxsize=_CACHED_WORDS)
def _label_keys(word: str) -> frozenset[str]:
    """Index keys of a label word: its stem keys, and (modifier, family) for compounds."""
    analysis = _analyse(word)
    keys = set(analysis.keys)
    if analysis.family:
        modifier, family = analysis.family
        keys.add(f"c:{modifier}|{family}")
        if family == _EXPERIENCE:
            keys.add(f"m:{modifier}")
    return frozenset(keys)


@lru_cache(maxsize=_CACHED_WORDS)
def _text_keys(word: str) -> frozenset[str]:
    """Probe keys of a text word (before occupation heads, which depend on the lexicon)."""
    analysis = _analyse(word)
    keys = set(analysis.keys)
    if not word.endswith(("are", "aren", "arna")):
        # A bare word stands for the skill "X-vana" ("truck" ~ "Truckvana"), but a person
        # is no experience: "handledare" is not "Handledarerfarenhet".
        keys.update(f"m:{form}" for form in _base_forms(word) if len(form) >= 4)
    if analysis.family and analysis.stem.endswith("tjänst"):
        # A service is a sector, not a person: "hemtjänst" is no "hemhjälp", but it is
        # the job of "hemtjänstpersonal" and "kundtjänst" that of "kundtjänstmedarbetare".
        keys.add(f"c:{analysis.stem}|{_GENERIC}")
    elif analysis.family:
        modifier, family = analysis.family
        keys.add(f"c:{modifier}|{family}")
        if len(modifier) >= 4:
            keys.add(f"m:{modifier}")
        if family == _GENERIC and analysis.stem.endswith(_JOB_HEADS):
            keys.update(_analyse(modifier).keys)  # "städjobb" is the job of a "städ"(are)
    return frozenset(keys)


def _derives(word: str, root: str) -> bool:
    return not word.startswith(root) or word[len(root) :] in _DERIVATIONAL


def _singular(plural: str) -> str:
    """ "maskinoperatörer" -> "maskinoperatör", "arbetare" -> "arbetare"."""
    for ending in ("erna", "arna", "orna", "er", "ar", "or"):
        if plural.endswith(ending) and not plural.endswith("are"):
            return plural[: -len(ending)]
    return plural


@lru_cache(maxsize=_CACHED_WORDS)
def _phrase_heads(word: str, stop: bool) -> tuple[str | None, str | None, bool]:
    """What a word makes a compound with: after a preposition ("säljare till X" ->
    X+säljare), and directly as a verb ("köra X" -> X+körning, "putsa X" -> X+putsning,
    the latter only as an exact label word: the third value)."""
    analysis = _analyse(word)
    stem = analysis.stem
    special = _PHRASE_VERBS.get(stem)
    if stop and special is None and stem not in _FAMILY_STEMS:
        return None, None, False
    linked = special[0] if special else word
    if special is not None:
        return linked, None if special[1] else special[0], False
    if word.endswith(("a", "ar")) and len(word) > 3 and len(stem) >= 3:
        return linked, stem + "ning", True
    if analysis.family and analysis.family[1] == _GENERIC and not analysis.synonym:
        # A job word followed by its field, as in titles: "säsongsarbetare park och
        # trädgård" -> "parkarbetare".
        head = next((h for h, family in _FAMILY_HEADS if stem.endswith(h)), "")
        start = word.rfind(head) if head else -1
        if start > 0:
            return linked, word[start:], True
    return linked, None, False


@lru_cache(maxsize=_CACHED_WORDS)
def _job_of(word: str) -> frozenset[str]:
    """The keys of X in a job compound ("X-jobb", "X-arbete", "X-lärling"), else nothing."""
    analysis = _analyse(word)
    if analysis.family and analysis.stem.endswith(_JOB_HEADS):
        return _analyse(analysis.family[0]).keys
    return frozenset()


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    for character, replacement in _CLEAN:
        if character in text:
            text = text.replace(character, replacement)
    return text


def _coordinated(phrase: str) -> list[str]:
    """ "a, b och c" -> ["a", "b", "c"]."""
    items = re.split(r",|\s+(?:och|eller|samt)\s+", phrase)
    return [item.strip() for item in items if item.strip()]


# --- lexicon -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Word:
    lower: str
    keys: frozenset[str]
    capitals: bool  # matches only the same word written in capitals
    plural: bool  # may be a plural of the text word: group and skill labels


@dataclass(frozen=True, slots=True, eq=False)
class _Variant:
    concept_id: str
    kind: Kind
    label: str
    core: tuple[_Word, ...]
    qualifiers: tuple[tuple[_Word, ...], ...]  # alternatives: one must be in the text
    strict: bool = False  # only the words themselves: residual groups ("Övriga ...")
    #: A product or language whose qualifier only says what kind of thing it is
    #: ("Python, programmeringsspråk"): written as a name, the core alone names it.
    named: bool = False


@dataclass(frozen=True, slots=True, eq=False)
class _Token:
    """A word of a text as written (one object per distinct spelling, shared)."""

    lower: str
    capitals: bool
    titled: bool  # begins with a capital: "Python", "SAP"
    keys: frozenset[str]
    #: The labels this word may begin, with how well it matches their first word.
    candidates: tuple[tuple[_Variant, float], ...]
    stop: bool


#: How well a text word matches a label word: the word itself or an inflection of it; a
#: compound of the same family that is also a derivation ("djurskötsel" ~ "djurskötare");
#: a compound of the same family, a transparent head or an occupation head ("truckkort" ~
#: "truckförare", "skolstädare" ~ "Städare"); a derivation ("städning" ~ "städare").
_SAME, _KINDRED, _COMPOUND, _DERIVED = 1.0, 0.9, 0.8, 0.6
#: A phrase read as a compound ("säljare till vår butik") is one step looser.
_PHRASE = 0.7


@dataclass(frozen=True, slots=True)
class _Scan:
    """One text being read: its words, every key they have, and the words joined."""

    tokens: list[_Token]
    spans: list[tuple[int, int]]  # character offsets of each token in the text
    present: set[str]
    words: str  # " word word ...", to find a word beginning cheaply


@dataclass(frozen=True, slots=True)
class _Match:
    variant: _Variant
    first: int  # token indexes, inclusive
    last: int
    quality: float  # the weakest word match: _SAME, _KINDRED, _COMPOUND, _PHRASE, _DERIVED
    qualified: bool  # the variant has no qualifier, or it was found near the core

    @property
    def exact(self) -> bool:
        return self.quality == _SAME and self.qualified


_PAREN: Final = re.compile(r"\([^)]*\)")
_ALTERNATIVES: Final = re.compile(r"/(?=[A-ZÅÄÖ])")
#: "A/B-Product": alternative names sharing a product or system after the last hyphen.
_SHARED_PRODUCT: Final = re.compile(r"^(?P<names>[^,]*/[^,/]*?)-(?P<product>[A-ZÅÄÖ0-9][^,]*)$")
_AGENT_END: Final = re.compile(
    r"(are|ör|ist|iker|ent|ant|man|log|chef|kock|ska|ledare|ingenjör|konsult|pedagog|"
    r"terapeut|värd|värdinna|pilot|smed|sömmerska|mekaniker|elektriker|lärling|befäl|"
    r"guide|tolk|vakt|bud|matros|jurist|präst|mästare|tekniker|biträde|assistent)$"
)
_ADJECTIVE_END: Final = ("isk", "iskt", "iv", "ig", "ell", "ande", "ende", "ad", "al")
_AGENT_PLURAL: Final = re.compile(r"(are|örer|ister|iker|män|ärer|ianer)$")
_RESIDUAL_GROUP: Final = ("övriga ", "övrig ")
#: Qualifiers that only say what kind of thing a named product or language is.
_KINDS_OF_THING: Final = _wordset(
    """programmeringsspråk programmeringsverktyg systemutvecklingsverktyg affärssystem
    redovisningssystem operativsystem databashanterare kommunikationsprotokoll cms
    applikationsplattform hänvisningssystem logistiksystem telefonväxel ordbehandlingsprogram
    kalkylprogram publiceringsverktyg ritprogram"""
)
_GENERIC_WORDS: Final = _wordset(
    """arbetare arbete jobb personal medarbetare biträde biträden tjänst hjälp assistent
    assistenter skötare skötsel vårdare vård förare kort körkort körning chaufför vana
    erfarenhet kunskap kunskaper chef chefer ledare tekniker montör montörer operatör
    operatörer säljare terapeut lärare inspektör"""
)


class ConceptRecogniser:
    """The taxonomy's labels as a lexicon; `recognise` finds them in a text."""

    #: Words either side of a skill's core in which its qualifier is looked for.
    window: Final = 15
    #: A title mention weaker than this (a residual group, a phrase read as a compound, a
    #: derivation) is weighed against the body instead of deciding alone.
    weak_title: Final = 0.65
    #: At most this many labels may share a core for a core-only occupation/group match.
    max_core_only: Final = 3

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self._vocabulary = self._build_vocabulary(taxonomy)
        self._occupation_stems = frozenset(
            _stem(o.label.lower()) for o in taxonomy.occupations.values() if " " not in o.label
        )
        self._index: dict[str, list[_Variant]] = defaultdict(list)
        self._residual_groups: set[str] = set()
        by_core: dict[tuple[str, tuple[frozenset[str], ...]], list[_Variant]] = defaultdict(list)
        self._heads: dict[str, list[_Variant]] = defaultdict(list)
        group_cores: defaultdict[str, frozenset[str]] = defaultdict(frozenset)
        variants = list(self._variants(taxonomy))
        # A residual group's word that begins other labels ("maskinoperatörer": "Maskinoperatör
        # tvätt ...") is said of those; the residual group keeps only its own compounds.
        first_words = {
            v.core[0].keys
            for v in variants
            if v.kind != "skill"
            and not (v.kind == "group" and v.concept_id in self._residual_groups)
        }
        variants = [
            v
            for v in variants
            if not (v.strict and _label_keys(_singular(v.core[0].lower)) in first_words)
        ]
        for variant in variants:
            for key in variant.core[0].keys:
                self._index[key].append(variant)
            if variant.kind != "skill":
                by_core[variant.kind, tuple(w.keys for w in variant.core)].append(variant)
            if variant.kind == "group" and len(variant.core) == 1:
                group_cores[variant.concept_id] |= variant.core[0].keys
            if variant.kind == "occupation" and len(variant.core) == 1:
                word = variant.core[0]
                if len(word.lower) >= 5 and not word.capitals:
                    analysis = _analyse(word.lower)
                    if analysis.stem not in _FAMILY_STEMS and analysis.family is None:
                        for key in analysis.keys:
                            if len(key) >= 4:
                                self._heads[key].append(variant)
        self._core_only: set[int] = set()
        for (_, core), sharing in by_core.items():
            generic = len(core) == 1 and not core[0].isdisjoint(_GENERIC_STEMS)
            if (
                not generic
                and len(sharing) <= self.max_core_only
                and all(v.qualifiers for v in sharing)
            ):
                self._core_only.update(id(v) for v in sharing)
        self._head_starts = frozenset(key[:3] for key in self._heads)
        self._skill_groups: dict[str, tuple[str, ...]] = defaultdict(tuple)
        for group in taxonomy.groups.values():
            for skill in group.skill_ids:
                self._skill_groups[skill] += (group.code,)
        self._skill_groups = dict(self._skill_groups)
        self._typical = self._typical_occupations(taxonomy, group_cores)
        self._token_keys: dict[str, tuple[frozenset[str], tuple[_Variant, ...]]] = {}
        self._tokens: dict[str, _Token] = {}
        self._compound_cache: dict[tuple[str, str, bool], tuple[_Variant, ...]] = {}

    # -- building the lexicon --

    @staticmethod
    def _typical_occupations(
        taxonomy: Taxonomy, group_cores: dict[str, frozenset[str]]
    ) -> dict[str, tuple[Occupation, ...]]:
        """Each group's occupations, most typical first: those named like the group
        ("Städare"), then by how connected they are by substitutability."""
        degree: defaultdict[str, int] = defaultdict(int)
        for source, targets in taxonomy.can_substitute_for.items():
            degree[source] += len(targets)
            for target in targets:
                degree[target] += 1
        typical: dict[str, tuple[Occupation, ...]] = {}
        for code, members in taxonomy.occupations_by_group.items():
            core = group_cores.get(code, frozenset())
            named = [
                o
                for o in members
                if " " not in o.label.split("/")[0]
                and _label_keys(o.label.split("/")[0].lower()) & core
            ]
            typical[code] = tuple(
                sorted(members, key=lambda o: (o not in named, -degree[o.id], o.label))
            )
        return typical

    @staticmethod
    def _build_vocabulary(taxonomy: Taxonomy) -> frozenset[str]:
        """Words that can be the last part of a compound, for elided compounds."""
        words = set(_GENERIC_WORDS)
        for label in (
            *(o.label for o in taxonomy.occupations.values()),
            *(g.label for g in taxonomy.groups.values()),
            *(s.label for s in taxonomy.skills.values()),
        ):
            words.update(w.lower() for w in _WORD.findall(label) if len(w) >= 4)
        return frozenset(words)

    def _head_of(self, word: str) -> str:
        """The last part of a compound: "terminalpersonal" -> "personal"."""
        if "-" in word:
            return word.rsplit("-", 1)[1]
        lower = word.lower()
        for start in range(3, len(lower) - 3):
            if lower[start:] in self._vocabulary:
                return lower[start:]
        for start in range(len(lower) - 4, 2, -1):
            if lower[start - 1] == "s" and lower[start] not in "aeiouyåäö":
                return lower[start:]
        return lower

    def _expand_elisions(self, phrase: str) -> tuple[str, bool]:
        """ "Lager- och terminalpersonal" -> "lagerpersonal och terminalpersonal"."""
        words = phrase.split()
        expanded = False
        for i, word in enumerate(words):
            bare = word.rstrip(",")
            if not bare.endswith("-") or len(bare) < 2:
                continue
            following = next(
                (w for w in words[i + 1 :] if not w.rstrip(",").endswith("-")),
                None,
            )
            if following is None or following in _CONJUNCTIONS:
                following = next(
                    (
                        w
                        for w in words[i + 1 :]
                        if not w.rstrip(",").endswith("-") and w not in _CONJUNCTIONS
                    ),
                    None,
                )
            if following is None:
                continue
            words[i] = bare[:-1] + self._head_of(following.rstrip(",")) + word[len(bare) :]
            expanded = True
        return " ".join(words), expanded

    def _words(
        self, phrase: str, *, single: bool = False, plural: bool = True
    ) -> tuple[_Word, ...]:
        words = []
        for word in _WORD.findall(phrase):
            lower = word.lower()
            capitals = (word.isupper() and not word.isdigit()) or (single and lower in _HOMOGRAPHS)
            words.append(_Word(lower, _label_keys(lower), capitals, plural))
        return tuple(words)

    def _variants(self, taxonomy: Taxonomy) -> Iterator[_Variant]:
        for occupation in taxonomy.occupations.values():
            yield from self._label_variants(occupation.id, "occupation", occupation.label)
        for skill in taxonomy.skills.values():
            yield from self._label_variants(skill.id, "skill", skill.label)
        for group in taxonomy.groups.values():
            if not group.label.lower().startswith(_RESIDUAL_GROUP):
                yield from self._label_variants(group.code, "group", group.label)
                continue
            # "Övriga kontorsassistenter och sekreterare": only its specific compounds
            # ("kontorsassistenter"), not the bare words every group has ("sekreterare").
            self._residual_groups.add(group.code)
            phrase = group.label.split(" ", 1)[1]
            for variant in self._label_variants(group.code, "group", group.label, phrase):
                word = variant.core[0].lower
                if len(variant.core) == 1 and (
                    _analyse(word).family is not None or len(word) >= 13
                ):
                    yield replace(variant, strict=True)

    def _label_variants(
        self, concept_id: str, kind: Kind, label: str, phrase: str | None = None
    ) -> Iterator[_Variant]:
        text = _normalise(label if phrase is None else phrase)
        parentheses = [p.strip("() ") for p in _PAREN.findall(text)]
        text = _PAREN.sub(" ", text).replace(" m.fl.", "").replace(" m.m.", "")
        # A parenthesis explains ("God fysik (tunga lyft)") unless it names a standard
        # ("Arbetsmiljö (OHSAS 18001)") or would leave one everyday word ("Miljö
        # (Trafikverkets kravkurs)"): then it qualifies.
        single = len(_WORD.findall(text.split(",")[0])) == 1
        specifics = [p for p in parentheses if single or any(c.isdigit() for c in p)]
        # "/" separates alternative names ("Servitör/Servitris"), but not inside a name
        # ("Fast food/snabbmat", "Styr/400", "kran > 18 ton/m").
        alternatives = _ALTERNATIVES.split(text)
        shared = _SHARED_PRODUCT.match(text)
        if shared and len(alternatives) > 1:
            # "Analys/Beräkning-Ansys": the product after the hyphen belongs to every
            # alternative, so it qualifies each ("analys" alone is not this skill).
            names = _ALTERNATIVES.split(shared["names"])
            alternatives = [f"{name}, {shared['product']}" for name in names]
        for alternative in alternatives:
            expanded, elided = self._expand_elisions(alternative.strip())
            head, _, rest = expanded.partition(",")
            tails = [part.strip() for part in rest.split(",") if part.strip()]
            cores = [head.strip()]
            if kind == "group":
                # Plural agent nouns listed after the comma are more alternatives.
                while tails and all(self._is_agent_plural(i) for i in _coordinated(tails[0])):
                    cores.extend(_coordinated(tails.pop(0)))
            parts = [_coordinated(part) for part in tails]
            if specifics:
                parts.append(specifics)
            for core in cores:
                items = _coordinated(core)
                split = (kind == "group" or elided) and all(" " not in i for i in items)
                for one in items if split else [core]:
                    yield from self._variant(concept_id, kind, label, one, parts)

    def _variant(
        self, concept_id: str, kind: Kind, label: str, core: str, parts: list[list[str]]
    ) -> Iterator[_Variant]:
        """One alternative name. `parts` are its qualifier parts, each a list of items;
        any one item found makes the whole label matched."""
        words = core.split()
        if kind == "occupation" and len(words) > 1 and self._is_agent(words[0]):
            tail = [w for w in words[1:] if w.lower() not in _STOPWORDS]
            if tail and all(w.islower() or w.isupper() for w in tail):
                parts = [_coordinated(" ".join(words[1:])), *parts]
                words = words[:1]
        if (
            len(words) == 1
            and parts
            and not _label_keys(words[0].lower()).isdisjoint(_GENERIC_STEMS)
        ):
            # "Lärling, bergarbetare, bygg och anläggning": after a generic word the first
            # qualifier is the occupation itself and must be there.
            parts = parts[:1]
        qualifier_items = [item for part in parts for item in part]
        core_words = self._words(
            " ".join(words), single=len(words) == 1, plural=kind != "occupation"
        )
        if not core_words or (len(core_words) == 1 and len(core_words[0].lower) == 1):
            return  # a lone letter ("F") names nothing in free text
        if (
            len(core_words) == 1
            and core_words[0].lower in _STOPWORDS
            and not core_words[0].capitals
            and not qualifier_items
        ):
            return
        qualifiers = tuple(
            q
            for q in (
                tuple(w for w in self._words(item) if w.lower not in _STOPWORDS)
                for item in qualifier_items
            )
            if q
        )
        named = kind == "skill" and any(
            all(item.lower() in _KINDS_OF_THING for item in part) for part in parts
        )
        yield _Variant(concept_id, kind, label, core_words, qualifiers, named=named)

    @staticmethod
    def _is_agent(word: str) -> bool:
        lower = word.lower()
        return not lower.endswith(_ADJECTIVE_END) and bool(_AGENT_END.search(lower))

    def _is_agent_plural(self, item: str) -> bool:
        lower = item.lower()
        if " " in lower:
            return False
        last = lower.rsplit("-", 1)[-1]
        return bool(_AGENT_PLURAL.search(last)) or bool(
            _analyse(last).keys & self._occupation_stems
        )

    # -- reading a text --

    def _lookup(self, lower: str) -> tuple[frozenset[str], tuple[_Variant, ...]]:
        """A text word's probe keys, and the labels whose first word it may be (cached)."""
        known = self._token_keys.get(lower)
        if known is not None:
            return known
        keys = _text_keys(lower)
        found = {id(v): v for k in keys for v in self._index.get(k, ())}
        if not any(v.kind == "occupation" for v in found.values()):
            heads = self._occupation_head_keys(lower)
            keys |= heads
            for key in heads:
                for variant in self._index.get(key[2:], ()):
                    if variant.kind == "occupation" and len(variant.core) == 1:
                        found.setdefault(id(variant), variant)
        if len(self._token_keys) > _CACHED_WORDS:
            self._token_keys.clear()
        known = self._token_keys[lower] = (keys, tuple(found.values()))
        return known

    def _occupation_head_keys(self, lower: str) -> frozenset[str]:
        """Keys of a one-word occupation that ends this compound: "skolstädare" -> städ."""
        for start in range(3, len(lower) - 3):
            tail = lower[start:]
            if tail[:3] not in self._head_starts:
                continue
            stem = _stem(tail)  # not cached: a word's tails are looked at once
            shared = {k for k in (stem, _derive(stem)) if k in self._heads}
            # The tail must be the occupation's word or its activity noun: "skolstädare"
            # and "kontorsstädning" are cleaning, "hårddisk" and "förbereda" are not.
            if any(
                _is_inflection_of(tail, variant.core[0].lower)
                for key in shared
                for variant in self._heads[key]
            ):
                return frozenset(f"h:{k}" for k in shared)
            if shared and stem.endswith("ning"):
                return frozenset(f"d:{k}" for k in shared)
        return frozenset()

    def _tokenise(self, text: str) -> tuple[list[_Token], list[tuple[int, int]]]:
        """The words of a normalised text with their probe keys, and where they are."""
        token_for = self._token_for
        found = list(_WORD.finditer(text))
        if text.isupper():
            # Capitals carry no meaning in a text written all in capitals ("VI SÖKER EN MAN").
            tokens = [token_for(match.group().lower()) for match in found]
        else:
            tokens = [token_for(match.group()) for match in found]
        spans = [match.span() for match in found]
        if "-" in text:
            for i, match in enumerate(found[:-2]):
                end = match.end()
                conjunction = found[i + 1]
                if (
                    text[end : end + 1] == "-"
                    and conjunction.group().lower() in _CONJUNCTIONS
                    and not text[end + 1 : conjunction.start()].strip(" ,")
                ):
                    # An elided compound: "lager-" in "lager- och terminalarbete".
                    following = found[i + 2]
                    lower = tokens[i].lower + self._head_of(following.group())
                    tokens[i] = self._token(lower, capitals=False)
                    spans[i] = (match.start(), following.end())
        return tokens, spans

    def _token_for(self, surface: str) -> _Token:
        token = self._tokens.get(surface)
        if token is None:
            if len(self._tokens) > _CACHED_WORDS:
                self._tokens.clear()
            capitals = surface.isupper() and not surface.isdigit()
            token = self._tokens[surface] = self._token(
                surface.lower(), capitals=capitals, titled=surface[:1].isupper()
            )
        return token

    def _token(self, lower: str, *, capitals: bool, titled: bool = False) -> _Token:
        keys, variants = self._lookup(lower)
        stop = lower in _STOPWORDS and not capitals
        bare = _Token(lower, capitals, titled, keys, (), stop)
        candidates = []
        for variant in variants:
            single = len(variant.core) == 1
            if stop and single and not variant.qualifiers:
                continue  # an everyday word, but it may begin "God fysik"
            quality = self._word_matches(variant.core[0], bare, loose=single)
            if quality is not None:
                candidates.append((variant, quality))
        return _Token(lower, capitals, titled, keys, tuple(candidates), stop)

    @staticmethod
    def _word_matches(word: _Word, token: _Token, *, loose: bool) -> float | None:
        """How well a text word matches a label word (see _SAME...), or None."""
        if word.capitals:
            if token.capitals and _is_inflection_of(token.lower, word.lower):
                return _SAME
            return None
        if word.keys.isdisjoint(token.keys):
            if loose and any(f"h:{key}" in token.keys for key in word.keys):
                return _COMPOUND
            if loose and any(f"d:{key}" in token.keys for key in word.keys):
                return _DERIVED
            return None
        if _is_inflection_of(token.lower, word.lower) or (
            word.plural and _is_plural_of(word.lower, token.lower)
        ):
            # The same word, or the singular of a plural label word ("kock" ~ "Kockar").
            return _SAME
        shared = word.keys & token.keys
        if _analyse(token.lower).synonym:
            return _COMPOUND  # "lokalvårdare" is a "städare" by the curated synonym
        if any(key[1:2] == ":" for key in shared):
            return _KINDRED if any(key[1:2] != ":" for key in shared) else _COMPOUND
        if len(shared) == 1 and _is_noun_form_of(token.lower, next(iter(shared))):
            # The text word is the bare root as a noun: "disk(en)" is not "diskare",
            # "vården" is not "vårdare"; the verb "diskar" and "diskning" are.
            return None
        if shared <= _FAMILY_STEMS:
            return None  # "sköta" is not "Skötare": generic heads need the word itself
        if _job_of(token.lower) & shared:
            return _COMPOUND  # "städjobb" is the job of a "städare"
        if not any(
            len(key) >= 4 and _derives(token.lower, key) and _derives(word.lower, key)
            for key in shared
        ):
            # Both words must be the root with a Swedish verb, activity or agent ending:
            # "Office" is not "Officer", "bakning" is not "Bakelser".
            return None
        return _DERIVED

    def _matches(self, text: str) -> tuple[_Scan, list[_Match]]:
        tokens, spans = self._tokenise(text)
        matches: list[_Match] = []
        present: set[str] = set()
        for token in set(tokens):
            present.update(token.keys)
        scan = _Scan(tokens, spans, present, " " + " ".join(t.lower for t in tokens))
        for i, token in enumerate(tokens):
            for variant, quality in token.candidates:
                match = self._match_at(variant, quality, scan, i)
                if match is not None:
                    matches.append(match)
        matches.extend(self._phrase_matches(scan))
        return scan, self._resolve(matches)

    def _match_at(
        self, variant: _Variant, quality: float, scan: _Scan, first: int
    ) -> _Match | None:
        """The variant matched from token `first`, whose first word matched with `quality`."""
        tokens = scan.tokens
        last = first + len(variant.core) - 1
        if last >= len(tokens):
            return None
        # Cheap rejections first: a later word of the label, or a skill's qualifier, that
        # the text cannot contain.
        for offset in range(1, len(variant.core)):
            if variant.core[offset].keys.isdisjoint(tokens[first + offset].keys):
                return None
        if (
            variant.kind == "skill"
            and variant.qualifiers
            and not (variant.named and tokens[first].titled)
            and not any(
                all(not w.keys.isdisjoint(scan.present) for w in item)
                for item in variant.qualifiers
            )
        ):
            return None
        for offset in range(1, len(variant.core)):
            found = self._word_matches(variant.core[offset], tokens[first + offset], loose=False)
            if found is None:
                return None
            quality = min(quality, found)
        if (
            quality == _DERIVED
            and variant.kind != "skill"
            and tokens[last].lower.endswith(_PRESENT_ENDINGS)
            and (last + 1 == len(tokens) or tokens[last + 1].lower not in _PHRASE_LINKS)
            and (first == 0 or tokens[first - 1].lower not in _WANTING)
        ):
            # A verb in the present names an occupation when it says where ("städar på
            # kontor", "diskar i restaurangkök") or is wanted ("vill städa", "att diska");
            # "fiskar gärna" and "målar och tecknar" are pastimes. The past tense is
            # experience: "städade hotellrum", "har städat kontor".
            return None
        if variant.strict and quality != _SAME:
            return None
        qualified = not variant.qualifiers or self._qualified(variant, scan, first, last)
        if not qualified and not (variant.named and tokens[first].titled):
            if variant.kind == "skill" or id(variant) not in self._core_only:
                return None
            if quality < _COMPOUND:
                return None  # a core alone must be said plainly: "uthyrning" is no "Uthyrare"
        return _Match(variant, first, last, quality, qualified)

    def _qualified(self, variant: _Variant, scan: _Scan, first: int, last: int) -> bool:
        tokens, present = scan.tokens, scan.present
        # For an occupation a compound of the qualifier also counts: "Maskinoperatör
        # tvätteri" names "Maskinoperatör tvätt och textilbehandling".
        # A skill's qualifier must be near it; an opening or a profile is about one job,
        # so an occupation's may be anywhere ("Undersköterska ... hemtjänst"), and there a
        # compound of it also counts ("Maskinoperatör tvätteri" names "Maskinoperatör
        # tvätt och textilbehandling").
        anywhere = variant.kind != "skill"
        nearby: Sequence[_Token] | None = tokens if anywhere else None
        for item in variant.qualifiers:
            keyed = [not word.keys.isdisjoint(present) for word in item]
            if not anywhere and not all(keyed):
                continue
            if nearby is None:
                low = max(0, first - self.window)
                high = min(len(tokens), last + 1 + self.window)
                nearby = [t for i, t in enumerate(tokens[low:high], low) if not first <= i <= last]
            for word, has_key in zip(item, keyed, strict=True):
                if has_key and any(
                    self._word_matches(word, t, loose=False) is not None for t in nearby
                ):
                    continue
                if anywhere and len(word.lower) >= 4 and f" {word.lower}" in scan.words:
                    continue
                break
            else:
                return True
        return False

    def _phrase_matches(self, scan: _Scan) -> Iterator[_Match]:
        """Phrases read as compounds: "arbeta med djur" = "djurarbete", "säljare till vår
        butik" = "butikssäljare", "köra truck" = "truckkörning", "putsa fönster" =
        "fönsterputsning" (a plain verb only when the compound is a label word itself)."""
        tokens = scan.tokens
        for i, token in enumerate(tokens[:-1]):
            linked = tokens[i + 1].lower in _PHRASE_LINKS
            if not linked and not token.lower.endswith(_PHRASE_HEAD_ENDINGS):
                continue
            heads = _phrase_heads(token.lower, token.stop)
            head = heads[0] if linked else heads[1]
            if head is None:
                continue
            j = i + 2 if linked else i + 1
            if (
                linked
                and tokens[i + 1].lower == "till"
                and j < len(tokens) - 1
                and tokens[j].lower in _PHRASE_LINKS
            ):
                j += 1  # a particle verb: "hjälpa till i ett kök" = "kökshjälp"
            while j < len(tokens) and tokens[j].lower in _DETERMINERS:
                j += 1
            if j >= len(tokens) or tokens[j].stop:
                continue
            strict = not linked and heads[2]
            for variant in self._compounds(tokens[j].lower, head, strict=strict):
                qualified = not variant.qualifiers or self._qualified(variant, scan, i, j)
                if qualified or id(variant) in self._core_only:
                    yield _Match(variant, i, j, _PHRASE, qualified)

    def _compounds(self, word: str, head: str, *, strict: bool) -> tuple[_Variant, ...]:
        """The one-word labels that the compound of `word` and `head` names (cached)."""
        key = (word, head, strict)
        known = self._compound_cache.get(key)
        if known is not None:
            return known
        found: dict[int, _Variant] = {}
        for form in _base_forms(word):
            for compound in (form + head, form + "s" + head):
                keys, candidates = self._lookup(compound)
                phrase = _Token(compound, False, False, keys, (), False)
                for variant in candidates:
                    if (
                        len(variant.core) != 1
                        or id(variant) in found
                        or variant.core[0].keys.isdisjoint(keys)  # only N's own head
                    ):
                        continue
                    quality = self._word_matches(variant.core[0], phrase, loose=True)
                    if quality is not None and (quality == _SAME or not strict):
                        found[id(variant)] = variant
        if len(self._compound_cache) > _CACHED_WORDS:
            self._compound_cache.clear()
        known = self._compound_cache[key] = tuple(found.values())
        return known

    def _resolve(self, matches: list[_Match]) -> list[_Match]:
        """Drop matches beaten by a qualified or a longer one of their kind; order them."""
        qualified_cores = {
            (m.first, m.last, m.variant.kind)
            for m in matches
            if m.qualified and m.variant.qualifiers
        }
        # Occupations and group labels compete for the same words: "ST-läkare" is not
        # also "Läkare"; a skill may lie inside another skill or an occupation label.
        spans = {(m.first, m.last, m.variant.kind == "skill") for m in matches if m.last > m.first}
        kept = [
            m
            for m in matches
            if (m.qualified or (m.first, m.last, m.variant.kind) not in qualified_cores)
            and not any(
                skill == (m.variant.kind == "skill")
                and first <= m.first
                and m.last <= last
                and (first, last) != (m.first, m.last)
                for first, last, skill in spans
            )
        ]
        # On the same words the closest occupations and groups beat looser ones:
        # "fastighetsskötsel" is "Fastighetsskötare", not also "Fastighetsassistent".
        best: defaultdict[tuple[int, int], float] = defaultdict(float)
        for m in kept:
            if m.variant.kind != "skill":
                best[m.first, m.last] = max(best[m.first, m.last], m.quality)
        kept = [m for m in kept if m.variant.kind == "skill" or m.quality >= best[m.first, m.last]]
        seen: set[tuple[int, int, int]] = set()
        unique: list[_Match] = []
        for match in sorted(kept, key=lambda m: (m.first, -m.last, not m.exact)):
            key = (id(match.variant), match.first, match.last)
            if key not in seen:
                seen.add(key)
                unique.append(match)
        return unique

    @staticmethod
    def _mention(text: str, scan: _Scan, match: _Match) -> Mention:
        variant = match.variant
        surface = text[scan.spans[match.first][0] : scan.spans[match.last][1]]
        return Mention(variant.concept_id, variant.kind, variant.label, surface, match.exact)

    # -- the interface --

    def forget(self) -> None:
        """Drop every remembered word analysis (after an erasure: no word of an erased
        profile stays in memory). Costs only re-analysing words as they come."""
        self._compound_cache.clear()
        for cached in (_base_forms, _analyse, _label_keys, _text_keys, _phrase_heads, _job_of):
            cached.cache_clear()

    def recognise(self, text: str) -> Concepts:
        """The occupations, skills and SSYK-4 groups that a text mentions."""
        normalised = _normalise(text)
        scan, matches = self._matches(normalised)
        occupations = {m.variant.concept_id for m in matches if m.variant.kind == "occupation"}
        skills = {m.variant.concept_id for m in matches if m.variant.kind == "skill"}
        occupation_groups = {self.taxonomy.occupations[o].ssyk for o in occupations}
        groups = occupation_groups | {
            m.variant.concept_id for m in matches if m.variant.kind == "group"
        }
        mentions: list[Mention] = []
        # A group label adds nothing to explain when an occupation of the group is named.
        seen = {("group", code) for code in occupation_groups}
        for match in matches:
            concept = (match.variant.kind, match.variant.concept_id)
            if concept not in seen:
                seen.add(concept)
                mentions.append(self._mention(normalised, scan, match))
        inferred = None
        if not groups and skills:
            support, evidence = self._skill_support((), matches)
            best = max(support, key=lambda g: (support[g], g), default=None)
            if best is not None and len(evidence[best]) >= 2:
                inferred = best
        return Concepts(
            frozenset(occupations),
            frozenset(skills),
            frozenset(groups),
            tuple(mentions),
            inferred,
        )

    def primary_occupation(self, title: str, body: str = "") -> OccupationGuess | None:
        """The single most likely occupation of an opening: what the title names, else what
        the body's occupation mentions and skills agree on; None without credible evidence.
        """
        title_text, body_text = _normalise(title), _normalise(body)
        title_scan, title_matches = self._matches(title_text)
        body_scan, body_matches = self._matches(body_text)
        support, skill_evidence = self._skill_support(title_matches, body_matches)
        body_votes = self._votes(body_matches)
        context = [*title_matches, *body_matches]
        words = title_scan.words + body_scan.words

        named = [m for m in title_matches if m.variant.kind != "skill"]
        if named:
            # The title's first words usually are the occupation ("Lagerarbetare med
            # truckkort"); the body and the skills only break ties between equal mentions.
            first = min(m.first for m in named)

            def rank(match: _Match) -> tuple[float, int]:
                group = self._group_of(match)
                score = (
                    self._strength(match)
                    + (0.1 if match.first == first else 0.0)
                    + 0.15 * support.get(group, 0.0)
                    + 0.02 * min(body_votes.get(group, 0.0), 3.0)
                )
                return score, -match.first

            best = max(named, key=rank)
            title_group = self._group_of(best)
            if self._strength(best) >= self.weak_title or not (support or body_votes):
                occupation = self._occupation_for(title_group, best, context, words)
                confidence = 0.55 + 0.4 * self._strength(best)
                evidence = self._mention(title_text, title_scan, best)
                return OccupationGuess(
                    occupation.id,
                    occupation.ssyk,
                    occupation.label,
                    round(confidence, 3),
                    evidence,
                    from_title=True,
                )

        # No title, or only a weak one (a residual group, a loose phrase): the body's
        # occupation mentions and the skills the text names vote for a group.
        scores: defaultdict[str, float] = defaultdict(float)
        if named:
            scores[title_group] += 2.0 * self._strength(best)
        for group, votes in body_votes.items():
            scores[group] += min(votes, 2.0)
        for group, share in support.items():
            scores[group] += 3.0 * share
        if not scores:
            return None
        group = max(scores, key=lambda g: (scores[g], g))
        share = scores[group] / sum(scores.values())
        if named and group == title_group:
            occupation = self._occupation_for(group, best, context, words)
            evidence = self._mention(title_text, title_scan, best)
            confidence = 0.3 + 0.4 * share
            return OccupationGuess(
                occupation.id,
                occupation.ssyk,
                occupation.label,
                round(confidence, 3),
                evidence,
                from_title=True,
            )
        in_group = [
            m for m in body_matches if m.variant.kind != "skill" and self._group_of(m) == group
        ]
        if in_group:
            best = max(in_group, key=lambda m: (self._strength(m), -m.first))
            occupation = self._occupation_for(group, best, context, words)
            evidence = self._mention(body_text, body_scan, best)
            confidence = 0.2 + 0.45 * share * self._strength(best)
        else:
            skills = skill_evidence.get(group, [])
            if len(skills) < 2:
                return None  # one skill shared by a few groups says too little
            occupation = self._occupation_for(group, None, context, words)
            from_title, match = skills[0]
            text, scan = (title_text, title_scan) if from_title else (body_text, body_scan)
            evidence = self._mention(text, scan, match)
            confidence = 0.1 + 0.35 * share
        return OccupationGuess(
            occupation.id,
            occupation.ssyk,
            occupation.label,
            round(confidence, 3),
            evidence,
            from_title=False,
        )

    def _skill_support(
        self, title_matches: Sequence[_Match], body_matches: Sequence[_Match]
    ) -> tuple[dict[str, float], dict[str, list[tuple[bool, _Match]]]]:
        """Each group's share of the text's skills (a skill in n groups counts 1/n, twice in
        the title), and the skill mentions behind it, most specific first."""
        weights: defaultdict[str, float] = defaultdict(float)
        evidence: defaultdict[str, list[tuple[bool, _Match]]] = defaultdict(list)
        seen: set[str] = set()
        for from_title, matches in ((True, title_matches), (False, body_matches)):
            for match in matches:
                skill = match.variant.concept_id
                if match.variant.kind != "skill" or skill in seen:
                    continue
                seen.add(skill)
                groups = self._skill_groups.get(skill, ())
                for group in groups:
                    weights[group] += (2.0 if from_title else 1.0) / len(groups)
                    evidence[group].append((from_title, match))
        total = sum(weights.values())
        for mentions in evidence.values():
            mentions.sort(key=lambda m: len(self._skill_groups[m[1].variant.concept_id]))
        return {g: w / total for g, w in weights.items()}, evidence

    def _group_of(self, match: _Match) -> str:
        variant = match.variant
        if variant.kind == "group":
            return variant.concept_id
        return self.taxonomy.occupations[variant.concept_id].ssyk

    def _strength(self, match: _Match) -> float:
        """How surely a match names its concept, in (0, 1]."""
        strength = match.quality
        if not match.qualified:
            strength *= 0.85
        if match.variant.kind == "group":
            strength *= 0.6 if match.variant.concept_id in self._residual_groups else 0.9
        return strength

    def _votes(self, matches: Sequence[_Match]) -> dict[str, float]:
        """Each group's weight of mentions; one mention of several labels of a group
        ("kockarna": three "Kock, ..." labels) counts once."""
        strongest: defaultdict[tuple[str, int, int], float] = defaultdict(float)
        for match in matches:
            if match.variant.kind != "skill":
                key = (self._group_of(match), match.first, match.last)
                strongest[key] = max(strongest[key], self._strength(match))
        votes: defaultdict[str, float] = defaultdict(float)
        for (group, _, _), strength in strongest.items():
            votes[group] += strength
        return votes

    def _occupation_for(
        self, group: str, match: _Match | None, context: Sequence[_Match], words: str
    ) -> Occupation:
        """The occupation a match names; for a group label or skills, the group's occupation
        the text names, else the first typical one whose first word the text begins a word
        with ("budbilstjänsterna" for "Budbilsförare"), else the most typical."""
        if match is not None and match.variant.kind == "occupation":
            return self.taxonomy.occupations[match.variant.concept_id]
        for other in context:
            if other.variant.kind == "occupation":
                occupation = self.taxonomy.occupations[other.variant.concept_id]
                if occupation.ssyk == group:
                    return occupation
        members = self._typical[group]
        for occupation in members:
            if f" {occupation.label[:5].lower()}" in words:
                return occupation
        return members[0]


_recognisers: dict[int, tuple[Taxonomy, ConceptRecogniser]] = {}
_recognisers_lock = threading.Lock()


def recogniser_for(taxonomy: Taxonomy) -> ConceptRecogniser:
    """The recogniser of a taxonomy, built once per process."""
    with _recognisers_lock:
        entry = _recognisers.get(id(taxonomy))
        if entry is None or entry[0] is not taxonomy:
            entry = (taxonomy, ConceptRecogniser(taxonomy))
            _recognisers[id(taxonomy)] = entry
        return entry[1]
