"""Name pools and the identifier noise of SPEC §2.5 that acts on names.

Every forename and surname here is at least three letters long and is not an
ordinary English word or a word the product writes itself (flag codes, event
types, column names, case-pack text), so a leak check that searches outputs
for input names as whole words never trips on the product's own vocabulary.
``FORBIDDEN_WORDS`` is that vocabulary; typos are re-drawn when they would
produce one of its words.
"""

from __future__ import annotations

import random
import unicodedata

# --- pools -----------------------------------------------------------------
# (name, weight). Accented / apostrophe names carry the canonical spelling of
# the person; records may fold the accent or straighten the apostrophe.

FEMALE_FORENAMES: tuple[tuple[str, int], ...] = (
    ("Rebecca", 5), ("Leanne", 4), ("Emily", 5), ("Nicola", 5), ("Stephanie", 5),
    ("Katarzyna", 2), ("Kirsty", 3), ("Bethany", 3), ("Elizabeth", 6), ("Margaret", 3),
    ("Christine", 3), ("Jennifer", 5), ("Aisha", 3), ("Fatima", 3), ("Sophie", 5),
    ("Anaïs", 1), ("Agnieszka", 2), ("Siobhán", 2), ("Gráinne", 1), ("Niamh", 2),
    ("Aoife", 2), ("Samantha", 4), ("Charlotte", 5), ("Victoria", 4), ("Jessica", 4),
    ("Hannah", 4), ("Lauren", 4), ("Natalie", 4), ("Gemma", 3), ("Kerry", 3),
    ("Joanne", 3), ("Deborah", 3), ("Amanda", 3), ("Susan", 3), ("Patricia", 3),
    ("Katherine", 4), ("Catherine", 3), ("Alexandra", 3), ("Zoë", 2), ("Chloë", 2),
    ("Renée", 1), ("Małgorzata", 1), ("Dorota", 1), ("Priya", 2), ("Anjali", 1),
    ("Ngozi", 1), ("Zeynep", 1), ("Aylin", 1), ("Megan", 4), ("Rachel", 4),
    ("Laura", 4), ("Sarah", 5), ("Helen", 3), ("Claire", 4), ("Louise", 3),
    ("Michelle", 3), ("Kimberley", 2), ("Danielle", 3), ("Abigail", 3), ("Eleanor", 3),
    ("Olivia", 3), ("Amelia", 3), ("Jacqueline", 2), ("Yasmin", 2), ("Mariam", 2),
    ("Chantelle", 2), ("Keeley", 2), ("Tamsin", 1), ("Eilidh", 1), ("Cerys", 2),
    ("Sinéad", 1), ("Róisín", 1), ("Magdalena", 1), ("Joanna", 2), ("Justyna", 1),
    ("Ayesha", 2), ("Leila", 2), ("Theresa", 2),
)

MALE_FORENAMES: tuple[tuple[str, int], ...] = (
    ("Robert", 6), ("Anthony", 5), ("Matthew", 5), ("Samuel", 4), ("Shaun", 3),
    ("Jorge", 1), ("Frederick", 2), ("Stefan", 2), ("Timothy", 3), ("Wayne", 3),
    ("Dafydd", 1), ("Kieran", 3), ("Mohammed", 4), ("Jason", 4), ("Krzysztof", 1),
    ("Pádraig", 1), ("William", 5), ("James", 6), ("Michael", 6), ("David", 6),
    ("Stephen", 4), ("Christopher", 5), ("Thomas", 5), ("Daniel", 5), ("Benjamin", 4),
    ("Alexander", 3), ("Andrew", 4), ("Peter", 3), ("Richard", 4), ("Joshua", 3),
    ("Kenneth", 2), ("Edward", 3), ("Nicholas", 3), ("Jonathan", 3), ("Joseph", 4),
    ("Gary", 3), ("Craig", 3), ("Darren", 3), ("Carl", 2), ("Neil", 2),
    ("Adam", 4), ("Imran", 2), ("Kwame", 1), ("Chidi", 1), ("Adebayo", 1),
    ("José", 1), ("Ciarán", 1), ("Seán", 1), ("Łukasz", 1), ("Bartosz", 1),
    ("Mehmet", 1), ("Emre", 1), ("Tomasz", 1), ("Piotr", 1), ("Marek", 1),
    ("Tariq", 2), ("Hamza", 2), ("Bilal", 1), ("Connor", 3), ("Declan", 2),
    ("Callum", 3), ("Ryan", 4), ("Aaron", 3), ("Nathan", 3), ("Jordan", 3),
    ("Scott", 3), ("Kyle", 3), ("Shane", 2), ("Dwayne", 1), ("Kevin", 3),
    ("Stuart", 2), ("Graham", 2), ("Colin", 2), ("Keith", 2), ("Trevor", 1),
    ("Nigel", 1), ("Barry", 2), ("Derek", 1), ("Raymond", 1), ("Gordon", 1),
    ("Malcolm", 1), ("Rhys", 2), ("Owain", 1), ("Gethin", 1), ("Philip", 2),
    ("Lawrence", 1), ("Oluwaseun", 1),
)

SURNAMES: tuple[tuple[str, int], ...] = (
    ("Thompson", 5), ("Roberts", 5), ("Moore", 4), ("Allen", 4), ("Mitchell", 4),
    ("Chen", 2), ("Williams", 7), ("Patel", 5), ("Kelly", 4), ("Thomas", 4),
    ("Clarke", 3), ("Lewis", 4), ("Edwards", 4), ("Taylor", 6), ("Jackson", 4),
    ("Gallagher", 2), ("Owusu", 2), ("Clark", 3), ("Hughes", 4), ("Öztürk", 1),
    ("Harris", 4), ("Harrison", 3), ("Walsh", 3), ("Okafor", 2), ("Shah", 2),
    ("Davies", 5), ("Evans", 5), ("Morris", 3), ("Richardson", 3), ("Robinson", 4),
    ("Iqbal", 2), ("Ahmed", 3), ("Morgan", 4), ("Jones", 7), ("Russo", 1),
    ("Gomez", 1), ("D’Souza", 2), ("O’Brien", 3), ("O’Connor", 2), ("Fernández", 1),
    ("García", 1), ("Nowak", 2), ("Kowalczyk", 1), ("Wiśniewski", 1), ("Kamiński", 1),
    ("Lewandowski", 1), ("Yılmaz", 1), ("Çelik", 1), ("Müller", 1), ("Nguyen", 2),
    ("Mensah", 2), ("Adeyemi", 2), ("Okonkwo", 1), ("Osei", 1), ("Boateng", 1),
    ("Begum", 2), ("Hussain", 3), ("Khan", 4), ("Akhtar", 2), ("Rahman", 2),
    ("Choudhury", 1), ("Sharma", 2), ("Singh", 3), ("Kaur", 2), ("Gupta", 1),
    ("Mistry", 1), ("Fitzgerald", 2), ("McCarthy", 2), ("Murphy", 3), ("O’Sullivan", 2),
    ("Doherty", 2), ("Quinn", 2), ("McLaughlin", 1), ("Byrne", 2), ("Kavanagh", 1),
    ("Jenkins", 3), ("Pritchard", 2), ("Llewellyn", 1), ("Vaughan", 2), ("Griffiths", 3),
    ("Rowlands", 1), ("Bevan", 1), ("Parry", 2), ("Sutherland", 1), ("Mackenzie", 2),
    ("Fraser", 2), ("Macdonald", 2), ("Henderson", 2), ("Ferguson", 2), ("Buchanan", 1),
    ("Crawford", 2), ("Wilkinson", 3), ("Atkinson", 2), ("Hutchinson", 2), ("Dawson", 2),
    ("Simpson", 3), ("Hodgson", 2), ("Bradshaw", 2), ("Whitfield", 1), ("Ashworth", 1),
    ("Heywood", 1), ("Pemberton", 1), ("Sheridan", 1), ("Thornton", 2), ("Holloway", 1),
    ("Ramsden", 1), ("Fairclough", 1), ("Sanderson", 1), ("Featherstone", 1), ("Ogunleye", 1),
    ("Petrov", 1), ("Horvat", 1), ("Popescu", 1), ("Ionescu", 1), ("Dimitrov", 1),
    ("Demir", 1), ("Aydın", 1), ("Papadopoulos", 1), ("Rossi", 1), ("Esposito", 1),
    ("Bianchi", 1), ("Silva", 2), ("Santos", 2), ("Pereira", 1), ("Oliveira", 1),
    ("Ferreira", 1), ("Hassan", 2), ("Malik", 2), ("Mahmood", 2), ("Qureshi", 1),
    ("Parker", 3), ("Wilson", 5), ("Johnson", 5), ("Harvey", 2), ("Gardner", 2),
    ("Lawson", 2), ("Nicholson", 2), ("Pearson", 2), ("Stevenson", 2), ("Watson", 3),
    ("Dixon", 2), ("Webb", 2), ("Bennett", 3), ("Murray", 3), ("Hamilton", 2),
    ("Reid", 2), ("Ellis", 2), ("Lloyd", 2), ("Kennedy", 2), ("Gibson", 2),
    ("Holmes", 2), ("Russell", 2), ("Stewart", 2), ("Spencer", 2), ("Wallace", 2),
    ("Sullivan", 2), ("Powell", 2), ("Rogers", 2), ("Collins", 3), ("Howard", 2),
    ("Pearce", 2), ("Dunn", 1), ("Jenner", 1), ("Cartwright", 1), ("Ogden", 1),
)

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


def weighted_pool(pool: tuple[tuple[str, int], ...]) -> tuple[list[str], list[int]]:
    names = [n for n, _ in pool]
    cum, total = [], 0
    for _, w in pool:
        total += w
        cum.append(total)
    return names, cum


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
