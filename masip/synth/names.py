"""Name pools and the identifier noise of SPEC §2.5 that acts on names.

Forenames (by sex) and surnames are drawn from England-and-Wales frequency
distributions with a long tail (about 8,000 forenames per sex and 17,000
surnames, most common first: Jones 1.33 %, David 4.9 % of men), read from
``data/gb_names.csv.gz``. ``scripts/build_name_frequencies.py`` builds that
file from the dev-only ``names-dataset`` package and documents the weights.

Every forename and surname is at least three letters long and is not an
ordinary English word or a word the product writes itself (flag codes, event
types, column names, case-pack text), so a leak check that searches outputs
for input names as whole words never trips on the product's own vocabulary.
``FORBIDDEN_WORDS`` is that vocabulary (the build script also scans the
product's code for it); typos are re-drawn when they would produce one of its
words.
"""

from __future__ import annotations

import csv
import gzip
import random
import unicodedata
from itertools import accumulate
from pathlib import Path

# --- pools -----------------------------------------------------------------
# (name, share) by England-and-Wales frequency, most common first, from
# data/gb_names.csv.gz (built by scripts/build_name_frequencies.py from the
# names-dataset GB ranks, weighted by a Zipf–Mandelbrot law fitted to published
# ONS-era shares; see that script). Accented / apostrophe names carry the
# canonical spelling of the person; records may fold the accent or straighten
# the apostrophe.

NAME_DATA = Path(__file__).parent / "data" / "gb_names.csv.gz"


def _load_pools() -> dict[str, tuple[tuple[str, float], ...]]:
    pools: dict[str, list[tuple[str, float]]] = {"F": [], "M": [], "S": []}
    with gzip.open(NAME_DATA, "rt", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            pools[row["kind"]].append((row["name"], float(row["share"])))
    return {kind: tuple(pool) for kind, pool in pools.items()}


_POOLS = _load_pools()
FEMALE_FORENAMES: tuple[tuple[str, float], ...] = _POOLS["F"]
MALE_FORENAMES: tuple[tuple[str, float], ...] = _POOLS["M"]
SURNAMES: tuple[tuple[str, float], ...] = _POOLS["S"]

# Nicknames and spelling variants a record may use instead of the canonical
# forename (SPEC §2.5: Bob/Robert).
NICKNAMES: dict[str, tuple[str, ...]] = {
    "Robert": ("Bob", "Bobby", "Robbie"), "Elizabeth": ("Liz", "Beth", "Lizzie"),
    "Anthony": ("Tony",), "Matthew": ("Matt",), "Samuel": ("Sam", "Sammy"),
    "Samantha": ("Sam", "Sammie"), "Timothy": ("Tim", "Timmy"), "Frederick": ("Fred", "Freddie"),
    "William": ("Liam",), "James": ("Jim", "Jimmy", "Jamie"), "Michael": ("Mike", "Mikey"),
    "David": ("Dave", "Davey"), "Stephen": ("Steve",), "Christopher": ("Chris",),
    "Thomas": ("Tom", "Tommy"), "Daniel": ("Dan", "Danny"), "Benjamin": ("Ben",),
    "Alexander": ("Alex",), "Alexandra": ("Alex", "Lexi"), "Andrew": ("Andy",),
    "Peter": ("Pete",), "Richard": ("Richie",), "Joshua": ("Josh",), "Kenneth": ("Kenny",),
    "Edward": ("Eddie",), "Nicholas": ("Nicky",), "Jonathan": ("Jonny",), "Joseph": ("Joey",),
    "Stephanie": ("Steph",), "Katherine": ("Kate", "Katie"), "Catherine": ("Cathy",),
    "Victoria": ("Vicky",), "Rebecca": ("Becky", "Becca"), "Jessica": ("Jess",),
    "Charlotte": ("Charlie", "Lottie"), "Margaret": ("Maggie", "Peggy"), "Deborah": ("Debbie",),
    "Amanda": ("Mandy",), "Jennifer": ("Jenny",), "Patricia": ("Trish", "Tricia"),
    "Susan": ("Susie",), "Kimberley": ("Kimmy",), "Abigail": ("Abby",), "Eleanor": ("Ellie",),
    "Jacqueline": ("Jackie",), "Nicola": ("Nicky",), "Danielle": ("Dani",), "Kevin": ("Kev",),
    "Philip": ("Phil",), "Lawrence": ("Larry",), "Mohammed": ("Mohammad", "Muhammad"),
    "Magdalena": ("Magda",), "Małgorzata": ("Gosia",), "Katarzyna": ("Kasia",),
    "Theresa": ("Tessa",),
}

# Product vocabulary (SPEC, contracts, code lists) and common English words:
# no name, nickname or typo may equal one of these (compared upper-case).
FORBIDDEN_WORDS: frozenset[str] = frozenset(
    ["ACCENTS", "ACCEPTED", "ACCESS", "ACCREDITED", "ACQUAINTANCE", "ACQUITTED", "ACROSS", "ACT", "ACTED", "ACTION", "ACTIVE", "ACTIVITY", "ADD", "ADJOURNED", "ADULTS", "ADVOCACY", "ADVOCATE", "ADVOCATES", "AFTER", "AGAINST", "AGE", "AGENCIES", "AGENCY", "AGGRAVATED", "AIRFLOW", "ALARM", "ALL", "ALLOWED", "ALLOWS", "ALTERNATIVE", "ANALYSIS", "ANALYST", "ANALYSTS", "AND", "ANNOTATIONS", "ANOTHER", "ANSWERED", "ANSWERS", "ANY", "APOSTROPHES", "APPEARS", "APPLICATION", "APPLIED", "APPLIES", "APPLY", "APRIL", "ARE", "AREA", "ARREST", "ARRESTED", "ARRIVE", "ARRIVED", "ARRIVES", "ASKED", "ASSAULT", "ASSESSMENT", "ASSOCIATED", "ATTACK", "ATTEND", "ATTENDANCE", "ATTRITION", "BACK", "BAD", "BAIL", "BAND", "BEFORE", "BEHAVIOUR", "BEHIND", "BELOW", "BESIDE", "BIRTH", "BLANK", "BLOOM", "BNMO", "BODY", "BOM", "BOOL", "BREACH", "BREACHED", "BREACHES", "BRINGS", "BRO", "BSPO", "BUILT", "BURGLARY", "BUT", "BYTES", "CALENDAR", "CAN", "CANNABIS", "CANNOT", "CARRIES", "CASE", "CASELOAD", "CASES", "CATEGORIES", "CATEGORY", "CAUTION", "CELL", "CELLS", "CHANGES", "CHARGE", "CHARGED", "CHARGING", "CHECK", "CHECKED", "CHECKSUM", "CHESHIRE", "CLAMPED", "CLASS", "CLASSIFICATION", "CLI", "CLIENT", "CLINIC", "CLINICAL", "CLOSED", "CLOSING", "CLOSURE", "CODE", "CODES", "COERCIVE", "COLLEAGUE", "COLUMN", "COLUMNS", "COME", "COMES", "COMMON", "COMMUNICATIONS", "COMMUNITY", "COMPARED", "COMPARES", "COMPARISON", "COMPLAINT", "COMPLETE", "CONDITIONS", "CONDUCT", "CONFIRMED", "CONSIDERATION", "CONSIDERED", "CONSTABULARY", "CONTACT", "CONTACTS", "CONTAIN", "CONTEXT", "CONTRACTS", "CONTROL", "CONTROLLED", "CONTROLLING", "CONVENTIONS", "CONVICTED", "CONVICTION", "COORDINATOR", "COPY", "CORRECTED", "COUNT", "COUNTED", "COUNTS", "COURSE", "COURT", "CPS", "CRASH", "CREATE", "CRIME", "CRIMES", "CRIMINAL", "CRN", "CROWN", "CSV", "CURFEW", "CURLY", "CURRENTLY", "CUSTODY", "CUT", "CYBER", "DAMAGE", "DASH", "DATA", "DATE", "DATED", "DATES", "DATETIME", "DAY", "DAYS", "DBT", "DEAD", "DECISION", "DEF", "DEFAULT", "DEFINES", "DEFINITIONS", "DELETED", "DELIVERY", "DEMO", "DEPARTMENT", "DERIVED", "DESC", "DESCRIBE", "DESCRIBED", "DESCRIPTION", "DETAIL", "DEVICE", "DIAGNOSIS", "DICT", "DICTIONARY", "DID", "DIED", "DIFFICULTIES", "DIGIT", "DIGITAL", "DIGITS", "DIRECT", "DIRECTORY", "DISAGREE", "DISCHARGE", "DISCLOSURE", "DISENGAGED", "DISMISSED", "DISORDER", "DISTRESS", "DISTRICT", "DIVERSION", "DIVERSIONARY", "DOB", "DOES", "DOWNSTREAM", "DRAWS", "DROP", "DROPPED", "DROPS", "DUCKDB", "DUPLICATES", "DVPO", "DWELLING", "DYAD", "DYADS", "EACH", "EARLIEST", "EDUCATIONAL", "EIGHT", "ELEMENT", "ELSE", "EMERGENCY", "EMPTY", "ENCODING", "ENCODINGS", "ENCRYPTED", "END", "ENDED", "ENGINEER", "ENSURES", "ENTITY", "ENUM", "EPISODE", "EPISODES", "ERROR", "EVALUATION", "EVALUATOR", "EVALUATORS", "EVENT", "EVERY", "EVERYTHING", "EVIDENCE", "EVIDENTIAL", "EXACT", "EXCEPTION", "EXCLUDING", "EXCLUSION", "EXECUTABLE", "EXIST", "EXISTS", "EXPIRED", "EXPIRES", "EXPIRY", "EXTRA", "EXTRACT", "EXTRACTS", "FACTORY", "FAILS", "FALLS", "FALSE", "FAMILY", "FEAR", "FIELD", "FIELDS", "FILE", "FILES", "FILTERS", "FINAL", "FINANCIAL", "FINDING", "FINE", "FIRST", "FLAG", "FLAGS", "FOLLOW", "FOLLOWED", "FOLLOWS", "FOR", "FORCE", "FORCES", "FORENAME", "FORENSIC", "FORM", "FORMAL", "FORMAT", "FOUND", "FREE", "FRESH", "FRIEND", "FROM", "FROZEN", "FULL", "FUNNEL", "FURTHER", "FUTURE", "FUZZY", "GAPS", "GENERALISED", "GENERATOR", "GETS", "GIVEN", "GOES", "GRANTED", "GROUP", "GUESSED", "GUESSING", "HALF", "HAMPSHIRE", "HAPPENED", "HARASSMENT", "HARD", "HAS", "HASHES", "HAVE", "HEADER", "HEALTH", "HEARING", "HEX", "HIDDEN", "HIERARCHY", "HIGH", "HOLD", "HOLDING", "HOLDS", "HOME", "HOURS", "HOUSE", "HOW", "HTML", "HYPHENATED", "IDENTIFIED", "IDENTIFIER", "IDENTIFIERS", "IDENTIFIES", "IDENTIFYING", "IDS", "IDVA", "IGNORED", "ILL", "IMPORT", "INCIDENT", "INCIDENTS", "INCLUDED", "INCLUSIVE", "INCONSISTENT", "INDEX", "INGEST", "INJURY", "INPUT", "INPUTS", "INSENSITIVE", "INTEGER", "INTEREST", "INTERFACE", "INTERIM", "INTERVENTION", "INTIMATE", "INTO", "INVESTIGATION", "INVOLVING", "ISO", "ITS", "JOB", "JOINS", "JOURNEY", "JSON", "KEEPS", "KEPT", "KEY", "KEYED", "KEYS", "KILL", "KNOWN", "KNOWS", "LAID", "LANDING", "LAST", "LATE", "LATER", "LATEST", "LEAST", "LEAVE", "LEFT", "LEVEL", "LICENCE", "LIKE", "LIMIT", "LINE", "LINK", "LINKAGE", "LINKING", "LIST", "LISTED", "LISTS", "LOAD", "LOADED", "LOADING", "LOADS", "LOCAL", "LOG", "LOGS", "LOOK", "LOSE", "LOUDLY", "LOW", "LOWER", "MADE", "MAGISTRATES", "MALICIOUS", "MANAGE", "MANIFEST", "MANY", "MAP", "MAPPING", "MARCH", "MARKER", "MARRIED", "MART", "MARTS", "MASIP", "MATCH", "MAY", "MEANS", "MEDIA", "MEDIUM", "MEMORY", "MENTAL", "MESSAGE", "MET", "METHOD", "METRIC", "METRICS", "MIDLANDS", "MINIMISATION", "MINUS", "MISSING", "MOD", "MOLESTATION", "MONTH", "MONTHS", "MORE", "MOVED", "MULTI", "MUST", "NAME", "NAMES", "NEAREST", "NEIGHBOUR", "NEITHER", "NEVER", "NEW", "NEXT", "NHS", "NICKNAMES", "NON", "NONE", "NOR", "NORMALISED", "NORMALLY", "NOT", "NOTE", "NOTES", "NOTHING", "NOTICE", "NULL", "NUMBER", "NUMBERS", "OFFENCE", "OFFENCES", "OFFENDER", "OFFENDING", "OFFICE", "OFTEN", "ONBOARDS", "ONCE", "ONE", "ONES", "ONLINE", "ONLY", "ONTO", "ONWARD", "OPEN", "OPERATIONAL", "OPS", "OPTIONAL", "ORDER", "ORDERED", "ORDERS", "OTHER", "OTHERWISE", "OUT", "OUTCOME", "OUTPUT", "OUTPUTS", "OUTWARD", "OVER", "OWN", "PACK", "PAGE", "PAIR", "PANEL", "PANELS", "PART", "PARTIAL", "PARTNER", "PARTNERSHIP", "PASS", "PAST", "PATTERN", "PDF", "PENALTY", "PEOPLE", "PER", "PERPETRATOR", "PERPETRATORS", "PERSON", "PERSONS", "PIPELINE", "PLACE", "PLAIN", "PLOTS", "PNC", "POINT", "POLICE", "POSITIVE", "POST", "POSTCODE", "POSTCODES", "PRACTICE", "PRE", "PREFIX", "PREPARES", "PRESENT", "PREVENTED", "PREVIOUS", "PRIMACY", "PROBABILISTIC", "PROBABILITY", "PROBATION", "PRODUCT", "PROFILES", "PROGRAMME", "PROJECT", "PROPERTY", "PROSECUTION", "PROTECT", "PROTECTED", "PROTECTING", "PROTECTION", "PROTECTIVE", "PROVE", "PSEUDONYMISATION", "PSEUDONYMISED", "PSEUDONYMOUS", "PSYCHOLOGICAL", "PUBLIC", "PUBLISHED", "PURPOSE", "QUALITY", "QUARANTINE", "QUARANTINED", "QUARANTINES", "QUASI", "RACIALLY", "RAISE", "RAISED", "RARELY", "RATES", "RATHER", "RAW", "REACH", "READ", "REAL", "REASON", "RECEIVED", "RECOMMENDATIONS", "RECORD", "RECORDED", "RECORDING", "RECORDS", "RECOVERED", "REF", "REFERENCE", "REFERENCES", "REFERRAL", "REFERRALS", "REFERRED", "REFS", "REFUSED", "REFUSES", "REHABILITATION", "REJECTED", "RELATED", "RELATES", "RELATIONSHIP", "RELEASED", "RELIABLE", "RELIGIOUSLY", "REMOVES", "RENAMED", "REOFFENDING", "REPEAT", "REPEATED", "REPORT", "REPORTED", "REPORTING", "REPORTS", "REPOSITORY", "REQUEST", "REQUESTED", "REQUIRED", "REQUIREMENT", "REQUIREMENTS", "RESIDENTIAL", "RESIST", "RESOLUTION", "RESOLVES", "RESPONDED", "RESPONSE", "RESTRAINING", "RESULT", "RESULTS", "RETURN", "RISK", "ROLE", "ROSH", "ROUNDED", "ROW", "ROWS", "RULE", "RULES", "RUN", "RUNS", "SAFEGUARDING", "SAME", "SAYS", "SCHEMA", "SEARCHING", "SECOND", "SECONDARY", "SECRET", "SECTION", "SEE", "SEED", "SEEDS", "SEEN", "SELDOM", "SELF", "SENT", "SENTENCE", "SEPARATED", "SERIOUS", "SERVICE", "SERVICES", "SET", "SEVERAL", "SEX", "SHA", "SHARED", "SHARING", "SHORT", "SIGN", "SIGNPOSTED", "SILENTLY", "SINCE", "SINGLE", "SITS", "SLOWLY", "SMALL", "SOCIAL", "SOON", "SOUGHT", "SOURCE", "SOURCES", "SPACES", "SPACING", "SPEC", "SPECIALIST", "SPECIFICATION", "SPO", "SPOS", "STAGE", "STAGES", "STAGING", "STALKING", "STANDARD", "START", "STATE", "STATUS", "STAY", "STEM", "STEP", "STILL", "STR", "STRANGER", "STRINGS", "SUB", "SUBJECT", "SUMMARY", "SUMMONSED", "SUPER", "SUPERVISED", "SUPERVISION", "SUPPORT", "SUPPORTS", "SUPPRESSED", "SUPPRESSION", "SURNAME", "SURNAMES", "SURRENDER", "SURROUNDING", "SUSPECT", "SUSPENDED", "SWAPPED", "SYNTHETIC", "SYSTEM", "TABLE", "TABLES", "TAKEN", "TESTS", "TEXT", "THAN", "THAT", "THE", "THEIR", "THEM", "THEN", "THERAPY", "THERE", "THESE", "THEY", "THIS", "THOSE", "THREATS", "THREE", "THRESHOLDS", "THROUGH", "THROWAWAY", "TIES", "TIME", "TIMELINE", "TOGETHER", "TOKEN", "TOKENS", "TOO", "TOTAL", "TRACK", "TRANSFER", "TRANSFERRED", "TREATED", "TREATMENT", "TRUE", "TRUST", "TUPLE", "TURNS", "TWICE", "TWO", "TYPE", "TYPES", "TYPOS", "UNDER", "UNIFIED", "UNIQUE", "UNKNOWN", "UNPARSEABLE", "UNRECOGNISED", "UPDATED", "UPGRADE", "UPSERTS", "USE", "USED", "USER", "USES", "USING", "UTF", "VALUE", "VALUES", "VERSION", "VERY", "VICTIM", "VICTIMS", "VIOLENCE", "WAITING", "WAREHOUSE", "WARNING", "WAS", "WEEK", "WEEKLY", "WEEKS", "WELCOME", "WERE", "WEST", "WHAT", "WHATEVER", "WHEN", "WHERE", "WHICH", "WHILE", "WHO", "WHOLE", "WHOSE", "WHY", "WINS", "WITH", "WITHDRAWN", "WITHIN", "WITHOUT", "WITNESS", "WRITTEN", "XCOM", "XREF", "YEAR", "YET", "YOUTHS", "ZERO", "ZONE", "ABOUT", "ABOVE", "AGAIN", "ALSO", "ALWAYS", "AMONG", "ANSWER", "ARM", "ARMY", "ART", "ASK", "AWAY", "BABY", "BANK", "BAR", "BASE", "BEAR", "BEAT", "BED", "BEEN", "BELL", "BEST", "BETTER", "BIG", "BILL", "BIRD", "BLACK", "BLUE", "BOAT", "BOOK", "BOTH", "BOX", "BOY", "BROWN", "BUSH", "BUSY", "CALL", "CAME", "CAMP", "CARD", "CARE", "CARRY", "CARTER", "CHANCE", "CHASE", "CHERRY", "CHILD", "CITY", "CLEAR", "CLOSE", "COAT", "COLD", "COOK", "COOPER", "COST", "COULD", "CROSS", "DARK", "DEAN", "DEAR", "DEEP", "DOOR", "DOWN", "DRAW", "DREW", "EARLY", "EARTH", "EAST", "EASY", "EVEN", "EVER", "EYES", "FACE", "FACT", "FAIR", "FAITH", "FALL", "FAR", "FARM", "FAST", "FIELD", "FIGHT", "FISH", "FISHER", "FIVE", "FLOOR", "FLY", "FOOD", "FOOT", "FOUR", "FOX", "FRANK", "FRONT", "FROST", "GAME", "GAVE", "GENE", "GIRL", "GLAD", "GLEN", "GOLD", "GONE", "GOOD", "GRACE", "GRANT", "GREAT", "GREEN", "GROW", "GUY", "HALL", "HAND", "HAPPY", "HART", "HEAD", "HEAR", "HEART", "HEAT", "HEATHER", "HELD", "HELP", "HERE", "HILL", "HOLLY", "HOPE", "HOT", "HUNT", "HUNTER", "IVY", "JACK", "JADE", "JOY", "JUDGE", "JUNE", "JUST", "KEEP", "KIND", "KING", "KNIGHT", "KNOW", "LAKE", "LAMB", "LAND", "LANE", "LARGE", "LAW", "LEE", "LESS", "LET", "LIFE", "LIGHT", "LINE", "LITTLE", "LIVE", "LONG", "MAIN", "MAKE", "MAN", "MARK", "MARSH", "MASON", "MILES", "MILL", "MILLS", "MIND", "MISS", "MOST", "MOVE", "MUCH", "NEAR", "NEED", "NICK", "NIGHT", "NINE", "NOTHING", "NOW", "OFF", "OLD", "ORGAN", "PAGE", "PARK", "PAT", "PEARL", "PLAY", "POPE", "POPPY", "PRICE", "RAY", "READY", "RED", "RICH", "RIGHT", "RIVER", "ROAD", "ROB", "ROCK", "ROSE", "ROSS", "ROUND", "RUBY", "SAID", "SEA", "SHARP", "SHIP", "SHOW", "SIDE", "SKY", "SLOW", "SMITH", "SNOW", "SOME", "SONG", "SOON", "SPRING", "STAR", "STONE", "STOP", "STORY", "SUE", "SUMMER", "SUN", "SURE", "TAKE", "TALK", "TELL", "TERRY", "TOWN", "TREE", "TRUE", "TURN", "TURNER", "VERY", "WALK", "WALKER", "WALL", "WANT", "WARD", "WARM", "WATCH", "WATER", "WAY", "WELL", "WENT", "WHITE", "WIDE", "WILL", "WIND", "WISE", "WOOD", "WORD", "WORK", "WORLD", "WRIGHT", "YOUNG", "ORDERS", "POLICE", "HEALTH", "WILLOW", "DAISY", "AMBER", "DAWN", "AUTUMN", "BROOKE", "CRYSTAL", "SANDY", "CANDY", "KITTY", "OLIVE", "IRIS", "VIOLET", "HAZEL", "BAILEY", "BAKER", "FLETCHER", "PALMER", "FOSTER", "BANKS", "BOOTH", "CHAPMAN", "GILL", "HOLT", "MARSHALL", "TUCKER", "WEBSTER", "WARDEN", "BUTLER", "PORTER", "SHEPHERD", "TAILOR"]
)

APOSTROPHES = ("’", "'")


def weighted_pool(pool: tuple[tuple[str, float], ...]) -> tuple[list[str], list[float]]:
    return [n for n, _ in pool], list(accumulate(w for _, w in pool))


_FEMALE = weighted_pool(FEMALE_FORENAMES)
_MALE = weighted_pool(MALE_FORENAMES)
_SURNAME = weighted_pool(SURNAMES)


def _draw(rng: random.Random, pool: tuple[list[str], list[int]]) -> str:
    names, cum = pool
    return rng.choices(names, cum_weights=cum, k=1)[0]


def draw_forename(rng: random.Random, sex: str) -> str:
    if sex == "F" or (sex not in ("M",) and rng.random() < 0.5):
        return _draw(rng, _FEMALE)
    return _draw(rng, _MALE)


def draw_surname(rng: random.Random) -> str:
    return _draw(rng, _SURNAME)


# --- text folding ------------------------------------------------------------

_SPECIAL_FOLD = {"ł": "l", "Ł": "L", "ı": "i", "İ": "I", "đ": "d", "Đ": "D", "ß": "ss"}


def strip_accents(text: str) -> str:
    """Siobhán -> Siobhan, Łukasz -> Lukasz (what a system without accents stores)."""
    out = []
    for ch in text:
        ch = _SPECIAL_FOLD.get(ch, ch)
        decomposed = unicodedata.normalize("NFKD", ch)
        out.append("".join(c for c in decomposed if not unicodedata.combining(c)))
    return "".join(out)


def fold_cp1252(text: str) -> str:
    """Replace characters cp1252 cannot hold by their unaccented form (keeps á, ’ ...)."""
    try:
        text.encode("cp1252")
        return text
    except UnicodeEncodeError:
        pass
    out = []
    for ch in text:
        try:
            ch.encode("cp1252")
            out.append(ch)
        except UnicodeEncodeError:
            folded = strip_accents(ch)
            try:
                folded.encode("cp1252")
            except UnicodeEncodeError:
                folded = "?"
            out.append(folded)
    return "".join(out)


# --- noise -------------------------------------------------------------------

_KEYBOARD_NEIGHBOURS = {
    "a": "sqz", "b": "vnh", "c": "xvd", "d": "sfe", "e": "wrd", "f": "dgr", "g": "fht",
    "h": "gjy", "i": "uok", "j": "hku", "k": "jli", "l": "kop", "m": "nj", "n": "bmh",
    "o": "ipl", "p": "ol", "q": "wa", "r": "etf", "s": "adw", "t": "ryg", "u": "yij",
    "v": "cbf", "w": "qes", "x": "zcs", "y": "tuh", "z": "xas",
}


def typo(rng: random.Random, name: str) -> str:
    """One-character edit (substitute / delete / insert / transpose), never the
    first letter, never producing a forbidden word; names shorter than five
    letters are returned unchanged."""
    if len(name) < 5 or not name.isalpha():
        return name
    for _ in range(6):
        i = rng.randrange(1, len(name) - 1)
        kind = rng.random()
        ch = name[i].lower()
        if kind < 0.4 and ch in _KEYBOARD_NEIGHBOURS:
            repl = rng.choice(_KEYBOARD_NEIGHBOURS[ch])
            out = name[:i] + (repl.upper() if name[i].isupper() else repl) + name[i + 1:]
        elif kind < 0.6:
            out = name[:i] + name[i + 1:]
        elif kind < 0.8:
            out = name[:i] + name[i] + name[i:]
        else:
            out = name[:i] + name[i + 1] + name[i] + name[i + 2:]
        if out != name and out.upper() not in FORBIDDEN_WORDS and len(out) >= 4:
            return out
    return name


def apostrophe_variant(rng: random.Random, name: str) -> str:
    """O’Brien -> O'Brien / OBrien / O Brien."""
    if "’" not in name:
        return name
    r = rng.random()
    if r < 0.55:
        return name.replace("’", "'")
    if r < 0.8:
        return name.replace("’", "")
    return name.replace("’", " ")


def is_name_safe(name: str) -> bool:
    """A name usable by the generator: letters (plus ’ ' - space), each word ≥ 3
    letters when it stands alone, and no word in ``FORBIDDEN_WORDS``."""
    import re

    words = re.findall(r"[^\W\d_]+", name)
    if not words or len(strip_accents(name).replace("’", "").replace("'", "").replace("-", "")) < 3:
        return False
    return not any(w.upper() in FORBIDDEN_WORDS or strip_accents(w).upper() in FORBIDDEN_WORDS for w in words)
