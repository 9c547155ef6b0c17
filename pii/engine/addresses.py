"""Street addresses in free text, offline: cheap anchors, then a small address grammar around each one.

1. The shared Hyperscan pass (``names.scan``) finds anchors: a house number followed by a capitalised
   word ("742 Evergreen"), a street type before a name ("Rue de", "Via", "Calle", "ul."), a street-type
   compound or word before a number ("Koskikatu 25", "Hauptstraße 5", "Rákóczi út 13"), a unit after a
   number ("Edeby 55\n Apt. 297", "Flat 8\n12 King Street"), a postcode + town after a comma or at the
   start of a line ("Aunetoppen 66, 2956 Idahamn", "…\n6145 Videbæk"), PO boxes and US military
   addresses, and a few strong context phrases ("address:", "lives at", "ship to"). Prose and code
   rarely contain these, so Python looks at a few spots per kilobyte at most; a work budget
   proportional to the text length bounds pathological input.
2. Around each anchor a handful of regular expressions, tried only at a few word starts, describe the
   street line in its common shapes: US/UK/AU ``number [direction] name… type`` ("224 Forrest Hill
   Road"), continental ``[type] name… number`` ("Via dei Fiorentini 17", "Magasinsgatan 7"),
   ``number, type name`` ("5, avenue Samson"), PO box / military ("PSC 5217, Box 4854\nAPO AP 43617").
3. The street line is extended over units ("Apt. 864", "Suite 200"), then over the locality on the
   same line after commas or on the following lines: city, state / region code, postal code, country
   ("\nArtilleros\n, CO\n Uruguay 64677"). Evidence (street type, house number, unit, postal code,
   state, country, context) adds up to the confidence; ``>= 0.5`` means "more likely than not".

The span covers the whole address as written, including a leading unit line, city, state, postal code
and country when they follow the street line. Street types follow USPS Publication 28, Appendix C1
(a US government work) plus common UK, Australian and continental forms; see ``data/README.md``.
``usaddress`` (a maintained parser, evaluated and not used) parses a given string but does not
locate one in free text; it labels non-addresses too ("3 Main points to remember" → AddressNumber +
StreetName…, "Via Tasso 129" → a USPS box), and it costs 60-240 µs per candidate (measured here),
tens of times the grammar's cost.
"""

from __future__ import annotations

import re
from functools import lru_cache

from pii.engine.names import (
    F_COMMON,
    F_FIRST,
    F_LAST,
    Scan,
    byte_to_char,
    is_ascii_encoding,
    lexicon,
    load_list,
    scan,
)
from pii.engine.types import Detection


def _words(text: str) -> list[str]:
    """A word list written as one string (easier to read and diff than a list literal)."""
    return text.split()


TYPE = "street_address"
MIN_CONFIDENCE = 0.5

# --------------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------------

# Types written after the street name (US/UK/AU): USPS Pub. 28 C1 primary names and standard abbreviations,
# plus UK/AU forms. Case-sensitive Title or UPPER case; see _LOWER_TYPES for lower-case text.
POST_TYPES = _words(
    "Basin Interchange Str str Roadway Circuit Boulevarde Pathway Strip Grange Gardens Hub Link Outlook Quays "
    "Retreat Vale "
    "Alley Aly Annex Anx Arcade Arc Avenue Ave Av Bayou Beach Bch Bend Bluff Bluffs Bottom Boulevard Blvd "
    "Branch Br Bridge Brg Brook Brooks Burg Burgs Bypass Byp Camp Canyon Cape Causeway Cswy Center Ctr Centre "
    "Centers Circle Cir Circles Cliff Cliffs Close Club Common Commons Concourse Corner Corners Course Court "
    "Ct Courts Cove Coves Creek Crk Crescent Cres Crest Crossing Xing Crossroad Curve Dale Dam Divide Drive "
    "Dr Drives Esplanade Estate Estates Expressway Expy Extension Ext Extensions Fall Falls Ferry Field "
    "Fields Flat Flats Ford Fords Forest Forge Forges Fork Forks Fort Freeway Fwy Garden Gardens Gdns Gateway "
    "Glen Glens Green Greens Grove Groves Harbor Harbors Harbour Haven Heights Hts Highway Hwy Hill Hills "
    "Hollow Inlet Island Islands Isle Junction Junctions Key Keys Knoll Knolls Lake Lakes Land Landing Lane "
    "Ln Laneway Light Lights Loaf Lock Locks Lodge Loop Mall Manor Manors Meadow Meadows Mews Mill Mills "
    "Mission Motorway Mount Mountain Mountains Neck Orchard Oval Overpass Parade Park Parks Parkway Pkwy "
    "Parkways Pass Passage Path Pike Pine Pines Place Pl Plain Plains Plaza Plz Point Pt Points Port Ports "
    "Prairie Promenade Quay Radial Ramp Ranch Rapid Rapids Rest Ridge Ridges Rise River Road Rd Roads Route "
    "Rte Row Rue Run Shoal Shoals Shore Shores Skyway Spring Springs Spur Spurs Square Sq Squares Station Sta "
    "Stravenue Stream Street St Streets Summit Terrace Ter Throughway Trace Track Trafficway Trail Trl "
    "Trailer Triangle Tunnel Turnpike Tpke Underpass Union Unions Valley Valleys Via Viaduct View Views "
    "Village Villages Ville Vista Walk Walks Wall Way Ways Well Wells Wharf Wynd"
)
# Lower-case types accepted in lower-case text ("217 lovers lane"): only unambiguous ones.
_LOWER_TYPES = _words(
    "street st avenue ave road rd lane ln drive dr boulevard blvd court ct place pl plaza square terrace "
    "parkway pkwy highway hwy circle cir trail crescent close way"
)
# Types written before the street name (continental Europe, Latin America, Greece, Russia…).
PRE_TYPES = _words(
    "Rue rue Rua rua Via via Viale viale Vicolo Corso corso Piazza piazza Piazzale Largo largo Calle calle "
    "Avenida avenida Avda Av Paseo paseo Pasaje Pasadizo Plaza plaza Praça Travessa travessa Estrada Rodovia "
    "Alameda alameda Carrer Camino camino Carretera Ronda Strada strada Stradă Bulevardul Boulevard boulevard "
    "Bd Avenue avenue Allée allée Chemin chemin Impasse impasse Place place Quai quai Cours cours Chaussée "
    "Route route Ulica ulica ul Ul Aleja aleja al Al Plac plac Os os Jalan Jl Sokak Odos Οδός Λεωφόρος "
    "Πλατεία улица ул проспект пр переулок пер шоссе бульвар бул наб Vía Jardim Lago Vila Rambla Passeig "
    "Travesía Glorieta Camí Trav Sentiero Contrada Borgo Lungomare Stradone Λ Urbanización Acceso Cañada "
    "Callejón Cuesta Ladera Ronda Vereda Ladeira Viela Conjunto Chácara Sítio Trecho Quadra Setor Núcleo "
    "Loteamento Passarela Passagem Estação Área Recanto Residencial Parque Stretto Rotonda Canale Incrocio "
    "Traversa Calle Rond-Point Sentier Voie pl Pl Osiedle osiedle Skwer Rondo Bulevar Avinguda Carreró"
)
# Types written after the name as a separate word, in any case ("Rákóczi út 13.", "Trenerys gate 232").
POST_WORDS = _words(
    "utca u. út tér körút köz kapu rkp. sor fasor gate gata vei veg vej gade vägen väg terrasse straat weg "
    "laan plein kade ulica cesta ulice náměstí nábřeží iela gatve tänav tee str str. strasse straße gasse "
    "allee platz street st road rd avenue ave lane drive Strasse Straße Str. Gasse Weg Allee Platz Gate Vei "
    "Vej Gade Straat Laan Plein Terrasse"
)
# Compound endings of one-word street names ("Koskikatu", "Hauptstraße", "Parijsstraat", "Skolvägen").
COMPOUND_SUFFIXES = _words(
    "straße strasse str. gasse weg allee platz damm ufer chaussee steig pfad stieg gatan gata vägen väg gränd "
    "stigen backen torget plan veien vegen vei gaten gata gate vej gade stræde allé katu kuja tie polku "
    "raitti väylä kaari rinne straat laan weg plein gracht kade singel dreef dijk steeg hof utca út ulica "
    "ulice iela gatve tänav tee strada straße bulevardi bakken haugen åsen jordet stien svingen toppen tunet "
    "løkka kroken plassen grenda lia ringen"
)
UNIT_WORDS = _words(
    "Apt Apartment Suite Ste Unit Flat Floor Fl Room Rm Building Bldg Level Lot Space Dept Piso Apto "
    "Appartamento Puerta Etage Whg Box Office Ofc Lgh Stg Door Piano Interno Scala Studio Andar Sala Bloco "
    "Escalera"
)
# Street-ish words the name detector must not treat as names ("Rachel Burgs", "Nino Point").
STREET_WORDS = frozenset(w.lower().rstrip(".") for w in (*POST_TYPES, *UNIT_WORDS) if len(w) > 2) - {
    # Also common given names or surnames that are too useful to block as names.
    "rue",
    "ford",
    "lane",
    "hill",
    "park",
    "dale",
    "glen",
    "king",
    "wells",
    "mills",
    "brooks",
    "banks",
    "fields",
    "rivers",
    "hollow",
    "cliff",
    "heath",
    "forest",
    "green",
    "mission",
    "camp",
    "branch",
    "pike",
    "port",
    "oval",
    "burg",
    "keys",
    "ridge",
    "summit",
    "river",
    "spring",
    "springs",
    "island",
    "view",
    "walk",
    "wall",
    "way",
    "well",
    "key",
    "lock",
    "run",
}
US_STATES = _words(
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH "
    "OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC PR GU VI AS MP FM MH PW AA AE AP AB BC MB NB NL NS NT NU "
    "ON PE QC SK YT ACT NSW QLD SA TAS VIC WA NT"
)
STATE_NAMES = (
    "Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|Hawaii|Idaho|"
    "Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|Minnesota|"
    "Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|New York|"
    "North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode Island|South Carolina|South Dakota|"
    "Tennessee|Texas|Utah|Vermont|Virginia|Washington|West Virginia|Wisconsin|Wyoming|Ontario|Quebec|"
    "British Columbia|Alberta|Manitoba|Saskatchewan|Nova Scotia|New South Wales|Victoria|Queensland|"
    "Tasmania|Bavaria|Bayern|Hessen|Sachsen|Rheinland-Pfalz|Nordrhein-Westfalen|Baden-Württemberg"
)

# --------------------------------------------------------------------------------------------------
# Street-line grammar (str regexes, tried only at a few positions around each anchor)
# --------------------------------------------------------------------------------------------------


def _alt(words: list[str] | tuple[str, ...]) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


_SP = r"[ \t]{1,3}"
_NUM = r"\d{1,6}[A-Za-z]?(?:[-/]\d{1,4}[A-Za-z]?)?"
# A street-name word: starts with a letter that is not ASCII lower case (Title/UPPER/accented), or an
# ordinal ("5th"), or an abbreviation such as "St." inside a name ("1819 St. John Street").
_NW = r"(?:[^\W\d_a-z][\w'\u2019\-]*\.?|\d{1,3}(?:st|nd|rd|th)\b)"
_LW = r"(?:[^\W\d_][\w'\u2019\-]*)"  # any word, for lower-case text
_PARTICLE = r"(?:de|del|de la|della|dei|degli|delle|di|da|do|dos|das|du|des|la|le|les|von|van|der|den|zu|y|e|al)"
_DIR = r"(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?"
_TYPES = _alt(POST_TYPES)
_PRE = _alt(PRE_TYPES)

# number [number] [direction] name… TYPE [name… TYPE] [direction]
# ("224 Forrest Hill Road", "9543 1819 St. John Street", "14 Crown Street Kishiev Squares")
_US = re.compile(
    rf"(?P<num>{_NUM}){_SP}(?:(?P<num2>\d{{1,5}}[A-Za-z]?){_SP})?(?:{_DIR}{_SP})?"
    rf"(?P<name>(?:{_NW}{_SP}){{1,4}}?)(?P<type>{_TYPES})\b\.?"
    rf"(?:{_SP}(?:{_NW}{_SP}){{1,2}}?(?:{_TYPES})\b\.?)?(?:{_SP}{_DIR}(?!\w))?"
)
_ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"]
_US_LOWER = re.compile(
    rf"(?P<num>\d{{1,6}}[a-z]?){_SP}(?:\d{{1,5}}{_SP})?(?P<name>(?:{_LW}{_SP}){{1,3}}?)(?P<type>{_alt(_LOWER_TYPES)})\b\.?"
)
# [number] [TYPE [particles]] name… [post-word] number [name… TYPE]
# ("Via dei Fiorentini 17", "Koskikatu 25", "Rákóczi út 13.", "28030 Edeby 55", "Tungata 11 Rott Crossroad")
_EU = re.compile(
    rf"(?:(?P<pre>\d{{1,6}}[A-Za-z]?){_SP})?"
    rf"(?P<name>(?:(?P<ptype>{_PRE})\.?{_SP}(?:{_PARTICLE}{_SP}){{0,2}})?"
    rf"{_NW}(?:{_SP}(?:{_NW}|{_PARTICLE}|[a-z\u00e0-\u017f][\w\-]*)){{0,3}}?(?:{_SP}(?P<pword>{_alt(POST_WORDS)}))?)"
    rf",?{_SP}(?P<num>\d{{1,5}}[A-Za-z]?(?:[-/]\d{{1,4}}[A-Za-z]?)?)\.?(?![\d,.]\d|\w)"
    rf"(?:{_SP}(?P<tail>(?:{_NW}{_SP}){{1,2}}?(?:{_TYPES})\b\.?))?"
)
_EU_LOWER = re.compile(
    rf"(?:(?P<pre>\d{{1,6}}){_SP})?(?P<name>(?:(?P<ptype>{_alt([w for w in PRE_TYPES if w.islower()])})\.?{_SP})?"
    rf"(?:{_LW}{_SP}){{0,2}}?{_LW}),?{_SP}(?P<num>\d{{1,5}}[a-z]?)(?![\d,.]\d|\w)"
)
# [number] number, TYPE name…  ("5, avenue Samson", "29 Rue de Tanger", "9554 62 Rue Gafsa")
_NUM_PRE = re.compile(
    rf"(?:(?P<pre>\d{{1,6}}){_SP})?(?P<num>{_NUM}),?{_SP}(?P<name>(?P<ptype>{_PRE})\.?(?:{_SP}(?:{_PARTICLE}|{_NW})){{1,4}})"
)
_PRE_ONLY = re.compile(rf"(?P<name>(?P<ptype>{_PRE})\.?(?:{_SP}(?:{_PARTICLE}|{_NW})){{1,4}})")
_TYPE_ONLY = re.compile(rf"(?P<name>(?:{_NW}{_SP}){{1,3}}?)(?P<type>{_TYPES})\b\.?")
# (Case-insensitive keywords only: under re.IGNORECASE the class in _NW would lose its meaning.)
_PO_BOX = re.compile(
    rf"(?:(?P<pre>\d{{1,6}}){_SP})?(?P<name>(?i:p\.?[ \t]?o\.?|post[ \t]office)[ \t]?(?i:box)[ \t]+\d{{1,6}}"
    rf"(?:{_SP}(?:{_NW}{_SP}){{1,2}}?(?:{_TYPES})\b\.?)?"
    r"|(?i:psc|unit|cmr)[ \t]+\d{1,5},?[ \t]+(?i:box)[ \t]+\d{1,5}"
    r"|(?i:usns|usnv|uss|uscgc)[ \t]+[^\W\d_][\w'\-]*(?:[ \t]+[A-Z][\w'\-]*)?)"
)
_MILITARY_TAIL = re.compile(r"[ \t]*,?[ \t]*\n?[ \t]*[ADF]PO[ \t]+A[AEP][ \t]+\d{5}(?:-\d{4})?", re.IGNORECASE)
_CORNER = re.compile(r"the[ \t]+corner[ \t]+of[ \t]+$", re.IGNORECASE)
_AND_STREET = re.compile(rf"[ \t]+(?i:and)[ \t]+((?:{_NW}|\d+)(?:{_SP}(?:{_NW}|\d+)){{0,4}})")

_UNIT = re.compile(
    r"(?:[ \t]*,?[ \t]*(?:\n[ \t>*•·\-]*)?|[ \t]+)"
    rf"(?:(?:{_alt(UNIT_WORDS)}|{_alt([w.lower() for w in UNIT_WORDS])}|{_alt([w.upper() for w in UNIT_WORDS])})"
    r"\.?[ \t]*(?:#[ \t]*)?|#[ \t]*)\d{1,6}[A-Za-z]?\b"
)
# Separator between address fields: commas / newlines (with indentation and quote marks), or spaces.
_SEP = re.compile(r"(?:[ \t]*[,\n/][ \t>*•·\-]*){1,3}|[ \t]+")
_POSTCODE_RE = re.compile(
    r"(?:\d{8}|\d{5}(?:-\d{3,4})?|\d{3}[ ]\d{2}|\d{2}-\d{3}|[A-Z]-\d{4}|\d{4}(?:[ ]?[A-Z]{2}\b)?|\d{6}|\d{3}"
    r"|[A-Z]{1,2}\d[A-Z\d]?[ ]\d[A-Z]{2}|[A-Z]\d[A-Z][ ]?\d[A-Z]\d)(?![\w-])"
)
_CITY_WORD = (
    r"(?:[^\W\d_a-z][^\W\d_]*(?:['\u2019\-][^\W\d_]+)*\.?(?!\w)"
    r"|(?:u|v|nad|pod|am|an|im|de|del|la|le|sur|sous|en|di|do|da|bei|upon|on)(?=[ \t]))"
)
_CITY = re.compile(rf"{_CITY_WORD}(?:[ \t]{{1,2}}{_CITY_WORD}){{0,4}}(?:[ \t]*\([^)\n]{{1,30}}\))?")
_CITY_LOWER = re.compile(r"[^\W\d_][\w'\u2019\-]*(?:[ \t][^\W\d_][\w'\u2019\-]*){0,2}")
_POSTCODE_SIMPLE = r"(?:\d{5}(?:-\d{3,4})?|\d{3}[ ]\d{2}|\d{4}|\d{2}-\d{3})(?![\w-])"
_REGION_POST = re.compile(rf"{_CITY_WORD}(?:[ \t]{{1,2}}{_CITY_WORD}){{0,2}}[ \t]+{_POSTCODE_SIMPLE}")
_SHORT_REGION = re.compile(r"[A-Za-z]{2,3}(?![\w-])")
_LINE_REST = re.compile(r"[^\n\d,]{2,40}(?=\n|$)")
_STATE = re.compile(rf"(?:{_alt(US_STATES)}|{STATE_NAMES}|[A-Z]{{1,3}})(?![\w-])")
_STATE_LOWER = re.compile(r"[a-z]{2,3}(?![\w-])")
_FIELD_END = re.compile(r"[ \t]*(?:$|[\n,;|'\"\]})>\\]|[.!?:](?:\s|$))")
_NUMBER_BEFORE = re.compile(r"(?<![\w.,:/-])\d{1,6}[ \t]{1,2}$")
_WORD_START = re.compile(r"(?<![\w.\-])(?<!\w['\u2019])[^\W_]")  # not inside "O'Brien", "x.y", "a-b"

# Words before an address that make it likelier (looked up as substrings of the 50 characters before).
_STRONG_CONTEXT = (
    "address",
    "addr:",
    "lives",
    "live at",
    "live on",
    "living",
    "located",
    "location",
    "ship",
    "deliver",
    "resides",
    "reside",
    "moved",
    "billing",
    "mailing",
    "residence",
    "meet me",
    "meet you",
    "send it to",
    "sent to",
    "mail to",
    "drops you off",
    "office is",
    "offices are",
)
_WEAK_CONTEXT = (" at ", " on ", " in ", " to ", "station", "restaurant", "home", "office", "street")


def _context(before: str) -> float:
    low = before.lower()
    if any(k in low for k in _STRONG_CONTEXT):
        # Right before the street line ("Her address is Klášterecká 36") it says more than further back.
        return 0.4 if any(k in low[-22:] for k in _STRONG_CONTEXT) else 0.3
    if any(k in low for k in _WEAK_CONTEXT):
        return 0.1
    return 0.0


@lru_cache(maxsize=1)
def _countries() -> frozenset[str]:
    return load_list("countries.txt") | {"usa", "uk", "u.s.a.", "u.s.", "great britain", "england", "scotland"}


_COUNTRY_WORDS = re.compile(r"[^\W\d_][\w'\u2019.\-]*(?:[ \t]+[^\W\d_][\w'\u2019.\-]*){0,4}")


def _match_country(text: str, pos: int) -> int:
    """End of a country name at ``pos`` (longest match, any case; "Cyprus (Greek)" ok), or -1."""
    m = _COUNTRY_WORDS.match(text, pos)
    if not m:
        return -1
    words = m.group().split()
    countries = _countries()
    for n in range(len(words), 0, -1):
        phrase = " ".join(words[:n])
        if phrase.lower() in countries:
            end = text.index(words[n - 1], pos) + len(words[n - 1])
            par = re.match(r"[ \t]*\([^)\n]{1,20}\)", text[end : end + 24])
            return end + (par.end() if par else 0)
    return -1


# --------------------------------------------------------------------------------------------------
# Anchors (Hyperscan patterns on bytes, run by names.scan together with the name patterns)
# --------------------------------------------------------------------------------------------------

_B_CAP = rb"(?:[A-Z]|[\xc3-\xd4][\x80-\xbf])"
_B_LET = rb"(?:[A-Za-z]|[\xc2-\xf4][\x80-\xbf]+)"


def _b_alt(words: list[str] | tuple[str, ...]) -> bytes:
    return b"|".join(re.escape(w).encode() for w in sorted(set(words), key=len, reverse=True))


# Lower-case forms that are everyday English or Romance words ("via pip", "in place") anchor nothing.
_PRE_ANCHOR_WORDS = [
    w
    for w in PRE_TYPES
    if len(w) > 2 and w not in ("via", "place", "route", "plaza", "cours", "largo", "boulevard", "avenue")
]
_UNIT_ANCHOR_WORDS = [
    "Apt",
    "Apartment",
    "Suite",
    "Ste",
    "Unit",
    "Flat",
    "Studio",
    "Piso",
    "Apto",
    "Appartamento",
    "Lgh",
]

# Each anchor: (pattern, caseless, kind); the kind tells _starts() where the street line may begin.
# Patterns are kept to literal words joined by single bytes: Hyperscan is an order of magnitude
# slower on a large literal set followed by a repetition such as ``[ \t]{1,3}``.
_ANCHORS: tuple[tuple[bytes, bool, str], ...] = (
    # a house number, then a capitalised word ("742 Evergreen", "28030 Edeby", "9554 62 Rue")
    # (the number must follow a space, quote or bracket: not "4.0, I", "2001-2026 Twisted", "8.2.4 Bogus")
    (rb"[ \t\n(>\"']\d{1,6}[A-Za-z]?,?[ \t]{1,3}" + _B_CAP, False, "here"),
    # Australian unit/number ("1/68 Brewer Heights")
    (rb"[ \t\n]\d{1,4}/\d{1,5}[ \t]" + _B_CAP, False, "here"),
    # a house number, then a lower-case street type ("5, avenue Samson", "12 rue du centre")
    (rb"\d,?[ \t](?:" + _b_alt([w for w in PRE_TYPES if w.islower() and len(w) > 2]) + rb")[ \t]", False, "here"),
    # lower-case text: a lower-case street type as a word ("217 lovers lane", "fourth avenue")
    (rb"[a-z][ \t](?:street|avenue|road|lane|boulevard|blvd|drive|court|terrace|st\.|ave\.|rd\.)\b", False, "back"),
    # a street type before a name ("Rue de", "Via", "Calle", "ul.", "u.")
    (rb"[^A-Za-z0-9_\x80-\xff](?:" + _b_alt(_PRE_ANCHOR_WORDS) + rb")[ \t]", False, "back"),
    (rb"[^A-Za-z0-9_\x80-\xff](?:ul|al|pl|os|Av|Bd|Jl|u|" + "Λ".encode() + rb")\.[ \t]", False, "back"),
    # a compound street name or a post-word, then a number ("Koskikatu 25", "Rákóczi út 13", "Hauptstr. 5")
    (
        rb"(?:" + _b_alt([*COMPOUND_SUFFIXES, *(w.title() for w in COMPOUND_SUFFIXES if len(w) > 3)]) + rb")(?:, | )\d",
        False,
        "back",
    ),
    # a postcode and a town after a comma: the street is before it ("Aunetoppen 66, 2956 Idahamn")
    (rb",[ \t]?(?:\d{4,5}|\d{3} \d{2}|\d{2}-\d{3}|[A-Z]-\d{4})[ \t]" + _B_CAP, False, "back"),
    (rb"[ \t](?:" + _b_alt(POST_WORDS) + rb")(?:, | )\d", False, "back"),
    # a unit after a house number ("Edeby 55\n Apt. 297", "Ringvej 144\n>Apt. 902")
    (rb"(?:" + _b_alt(_UNIT_ANCHOR_WORDS) + rb")\.?[ \t]?#?\d", True, "back"),
    # PO boxes and US military addresses
    (rb"\b(?:P\.?[ \t]?O\.?|Post[ \t]Office)[ \t]?Box[ \t]+\d", True, "here"),
    (rb"\b(?:PSC|Unit|CMR)[ \t]+\d{1,5},?[ \t]+Box[ \t]+\d", True, "here"),
    (rb"\b(?:USNS|USNV|USS|USCGC)[ \t]+[A-Z]", True, "here"),
    # an intersection: "the corner of Dalbraut 99 and Frederikke Coves" (context phrases in general only
    # raise the confidence of street lines found by the anchors above, see _context)
    (rb"\bcorner of\b", True, "after"),
    # key = value: 'home_address = "Hövelring 6/9"', '"address": "…"'
    (rb"address[\"']?[ \t]*[:=][ \t]*[\"']?", True, "after"),
    # a strong context phrase: "Her address is Klášterecká 36", "deliver to Sandvikstubben 3B"
    (
        rb"\b(?:address(?:es)? (?:is|are|was|:)|address:|lives (?:at|on)|live (?:at|on)|located at|ship(?:ped)? to|"
        rb"deliver(?:ed)? to|send (?:it |this |the \w+ )?to|sent to|mail(?:ed)? to|moved to|resides at|"
        rb"meet me at)[ \t]",
        True,
        "after",
    ),
    # a postcode and town at the start of a line: the street is on the line above
    # ("boulevard de Guillaume\n52964 Payet-sur-Mer")
    # (the usual European layout: "Vestbane Allé 393\n6145 Videbæk", "Hessering 9/6\n64737 Plauen")
    (rb"\n(?:\d{5}|\d{4}|\d{3} \d{2}|\d{2}-\d{3}|[A-Z]-\d{4}) " + _B_CAP, False, "prevline"),
)
ANCHORS: tuple[tuple[bytes, bool], ...] = tuple((rx, caseless) for rx, caseless, _ in _ANCHORS)
_KINDS: tuple[str, ...] = tuple(kind for _, _, kind in _ANCHORS)


# --------------------------------------------------------------------------------------------------
# Candidates
# --------------------------------------------------------------------------------------------------


class _Cand:
    __slots__ = ("conf", "end", "kind", "start")

    def __init__(self, start: int, end: int, kind: str, conf: float) -> None:
        self.start = start
        self.end = end
        self.kind = kind
        self.conf = conf


def _common(word: str) -> bool:
    word = word.lower().rstrip(".'\u2019")
    if word in _ORDINALS:
        return False
    flags = lexicon().get(word, 0)
    return bool(flags & F_COMMON) and not flags & (F_FIRST | F_LAST)


_COMPOUND_END = re.compile(rf"\w[\w-](?:{_alt([c.rstrip('.') for c in COMPOUND_SUFFIXES])})\.?$")


def _compound(word: str) -> bool:
    return _COMPOUND_END.search(word.lower()) is not None


_PRE_WORDS = frozenset(w.lower() for w in PRE_TYPES)
_TYPE_WORDS = frozenset(POST_TYPES) | frozenset(_LOWER_TYPES)
_DIGIT = re.compile(r"\d")
_UNIT_SLASH = re.compile(r"(?<![\w/])\d{1,4}/$")
_TWO_NUMBERS = re.compile(r"\d{1,6}[A-Za-z]?[ \t]+\d")
_UNIT_LINE_BEFORE = re.compile(
    rf"(?P<unit>(?:{_alt(UNIT_WORDS)})\.?[ \t]*#?\d{{1,6}}[A-Za-z]?),?[ \t]*\n[ \t>*]*$|"
    rf"(?P<unit2>(?:{_alt(UNIT_WORDS)})\.?[ \t]*#?\d{{1,6}}[A-Za-z]?),?[ \t]+$|"
    rf"(?P<unit3>(?<![\w.])(?:{_alt(UNIT_WORDS)}))\.?[ \t]+$"  # "Unit 13 7 Clayton Roadway": "13" is the unit
)
_ONE_DIGIT = re.compile(r"\d[ \t]")
_ABBREVIATIONS = frozenset(w.lower() for w in (*POST_TYPES, *UNIT_WORDS, *POST_WORDS) if len(w) <= 5)
_FIRST_WORDS = re.compile(r"[^\s,]+")


def _lines_at(text: str, pos: int) -> list[_Cand]:
    """Street-line candidates starting exactly at ``pos``, with their intrinsic confidence.

    Cheap word checks decide which of the grammar's expressions can match at all, so that most
    positions cost one or two regex calls."""
    out: list[_Cand] = []
    window = text[pos : pos + 90]
    line = window.split("\n", 1)[0]
    words = [w.strip(".,;:'\"\\()[]{}") for w in _FIRST_WORDS.findall(line)[:8]]
    if not words:
        return out
    lower_line = line == line.lower()
    has_type = any(w in _TYPE_WORDS for w in words[1:])
    has_pre = any(w.lower() in _PRE_WORDS for w in words[:3])
    later_digit = _DIGIT.search(line, 1) is not None
    if words[0][:1].isdigit():
        if has_type:
            m = _US.match(text, pos)
            if m:
                common = all(_common(w) for w in m.group("name").split())
                out.append(_Cand(pos, m.end(), "us", 0.55 if common and not m.group("num2") else 0.75))
            if lower_line:
                m = _US_LOWER.match(text, pos)
                if m and not any(_common(w) for w in m.group("name").split()):
                    out.append(_Cand(pos, m.end(), "us", 0.6))
        if has_pre:
            m = _NUM_PRE.match(text, pos)
            if m:
                out.append(_Cand(pos, m.end(), "pre", 0.7))
    if later_digit:
        for rx in (_EU, _EU_LOWER) if lower_line else (_EU,):
            m = rx.match(text, pos)
            if not m:
                continue
            name_words = [w for w in m.group("name").split() if not re.fullmatch(_PARTICLE, w)]
            typed = bool(m.group("ptype")) or (rx is _EU and bool(m.group("pword") or m.group("tail")))
            # Lower-case words belong in a street name only before a street word ("Arany jános utca");
            # a common English first word is the sentence, not the street ("Deliver to Krátký Lán 6").
            if (
                rx is _EU
                and not typed
                and (any(w[:1].islower() for w in name_words) or (len(name_words) > 1 and _common(name_words[0])))
            ):
                continue
            if typed or _compound(name_words[-1]):
                conf = 0.7
            elif rx is _EU and not all(_common(w) for w in name_words):
                conf = 0.3 if m.group("pre") else 0.15  # "Edeby 55": shape only; a leading number helps
            else:
                continue
            out.append(_Cand(pos, m.end(), "eu", conf))
    if "box" in window.lower() or words[0].upper() in ("USNS", "USNV", "USS", "USCGC"):
        m = _PO_BOX.match(text, pos)
        if m:
            tail = _MILITARY_TAIL.match(text, m.end())
            if tail:
                out.append(_Cand(pos, tail.end(), "military", 0.95))
            elif not m.group("name").upper().startswith(("USNS", "USNV", "USS", "USCGC")):
                out.append(_Cand(pos, m.end(), "box", 0.7))
    if not words[0][:1].isdigit():
        if has_pre:
            m = _PRE_ONLY.match(text, pos)
            if m:
                out.append(_Cand(pos, m.end(), "pre_only", 0.3))
        if has_type:
            m = _TYPE_ONLY.match(text, pos)
            if m and not all(_common(w) for w in m.group("name").split()):
                out.append(_Cand(pos, m.end(), "type_only", 0.2))
    return out


def _extend(text: str, cand: _Cand) -> tuple[int, float]:
    """Extend a street line over units, then city / state / postcode / country fields."""
    if cand.kind == "military":
        return cand.end, 0.0
    segment = text[cand.start : cand.end]
    lower = segment == segment.lower()
    pos = cand.end
    ev = 0.0
    unit = False
    for _ in range(3):
        m = _UNIT.match(text, pos)
        if not m:
            break
        pos, unit = m.end(), True
        ev += 0.2
    seen_city = seen_state = seen_post = seen_country = False
    for _ in range(6):
        m_sep = _SEP.match(text, pos)
        if not m_sep or m_sep.end() >= len(text):
            break
        at = m_sep.end()
        hard = "," in m_sep.group() or "\n" in m_sep.group()  # a field separator, not just a space
        end = _match_country(text, at)
        if end > 0 and not seen_country and (hard or seen_city or seen_state or unit):
            pos, seen_country = end, True
            ev += 0.15
            continue
        m = _POSTCODE_RE.match(text, at)
        if m and not seen_post and (hard or seen_city or seen_state or seen_country or unit):
            pos, seen_post = m.end(), True
            ev += 0.2 if (hard or seen_city or seen_state) else 0.1
            continue
        m = (_STATE_LOWER if lower else _STATE).match(text, at)
        if m and not seen_state and (seen_city or hard) and _state_ok(text, m.end()):
            pos, seen_state = m.end(), True
            ev += 0.15
            continue
        if not seen_post and (seen_city or hard):
            # A region + postcode field ("Greenlander 07609"), or a short region code before a postcode
            # field in any case ("KNIVSTA, nan 18237", "\n nan\n 7188").
            m = _REGION_POST.match(text, at)
            if m and _FIELD_END.match(text, m.end()):
                pos, seen_post = m.end(), True
                ev += 0.2
                continue
            m = _SHORT_REGION.match(text, at)
            if m and not seen_state and _postcode_follows(text, m.end()):
                pos, seen_state = m.end(), True
                continue
        if seen_city or not (hard or unit or seen_post):
            break
        end = _city(text, at, lower, hard, seen_post and not hard)
        if end < 0:
            break
        pos, seen_city = end, True
        ev += 0.2 if seen_post else 0.1  # "75001 Paris": a postcode then its town is a strong pair
    return pos, ev


def _city(text: str, at: int, lower: bool, hard: bool, after_postcode: bool = False) -> int:
    """End of a city / region field at ``at``, or -1. Taken only when the field clearly ends there
    (end of line/text, a separator) or another locality field follows: "123 Main St. Then we…" is no city."""
    if after_postcode:
        # "791 10 Rokytnice v Orlických horách": after a postcode the rest of the line is the town.
        line = _LINE_REST.match(text, at)
        if line and text[at].isupper():
            return line.end()
    m = (_CITY_LOWER if lower else _CITY).match(text, at)
    end = m.end() if m else -1
    if m is None or not (_FIELD_END.match(text, end) or _locality_follows(text, end, lower)):
        # Whole-line fallback for scripts and symbols the word pattern misses (a Greek city name
        # written with the math symbol U+2206 for Delta).
        line = _LINE_REST.match(text, at) if hard else None
        if line is None or not _locality_follows(text, line.end(), lower):
            return -1
        return line.end()
    words = m.group().split()
    if all(_common(w) for w in words) and not _locality_follows(text, end, lower):
        return -1
    return end


def _postcode_follows(text: str, pos: int) -> bool:
    m = _SEP.match(text, pos)
    return bool(m and _POSTCODE_RE.match(text, m.end()))


def _state_ok(text: str, end: int) -> bool:
    """A state / region code ends a field: followed by a postcode, a separator or the end of the line."""
    return bool(re.match(r"[ \t]*(?:\n|,|$|\d|[A-Z]\d)", text[end : end + 12]))


def _locality_follows(text: str, pos: int, lower: bool) -> bool:
    m = _SEP.match(text, pos)
    if not m:
        return False
    at = m.end()
    if _POSTCODE_RE.match(text, at) or _match_country(text, at) > 0:
        return True
    m = (_STATE_LOWER if lower else _STATE).match(text, at)
    return bool(m and _state_ok(text, m.end()))


def _starts(text: str, kind: str, a_start: int, a_end: int) -> list[int]:
    """Positions where the street line of an anchor may begin, earliest first."""
    if kind == "here":
        start = a_start if text[a_start : a_start + 1].isalnum() else a_start + 1
        while start > 0 and text[start - 1].isdigit():
            start -= 1  # the anchor may begin on the last digit of the number ("12, rue")
        m = _UNIT_SLASH.search(text, max(0, start - 6), start)
        if m:
            start = m.start()  # Australian unit/number: "1/68 Brewer Heights"
        # A second number before the house number ("9554 62 Rue Gafsa", "77009 P.O. Box 255").
        m = _NUMBER_BEFORE.search(text, max(0, start - 9), start)
        return [m.start(), start] if m else [start]
    if kind == "after":
        # Only word starts that can begin a street line: a digit, a capital or a street type.
        out = []
        for m in _WORD_START.finditer(text, a_end, min(len(text), a_end + 50)):
            at = m.start()
            if not text[at].islower() or text[at : at + 12].split(" ", 1)[0].rstrip(".") in _PRE_WORDS:
                out.append(at)
                if len(out) == 5:
                    break
        return out
    if kind == "prevline":
        prev_end = text.rfind("\n", 0, a_start + 1)
        if prev_end <= 0:
            return []
        prev_start = max(text.rfind("\n", 0, prev_end) + 1, prev_end - 80)
        return [m.start() for m in _WORD_START.finditer(text, prev_start, prev_end)][-4:]
    # "back": the anchor is inside or at the end of the street line; try the last few word starts.
    line_start = max(text.rfind("\n", 0, a_start) + 1, a_start - 70)
    nl = text.find("\n", a_start + 1)
    stop = a_end if nl < 0 else min(a_end, nl)
    out = [m.start() for m in _WORD_START.finditer(text, line_start, stop)][-4:]
    # A unit on a line of its own ("Flat 8\n12 King Street"): the street line is the next one.
    line_end = text.find("\n", a_end)
    if line_end >= 0 and not text[a_end:line_end].lstrip(
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    ).strip(" \t,"):
        m = _WORD_START.search(text, line_end + 1, min(len(text), line_end + 12))
        if m:
            out.append(m.start())
    return out


def _verify(text: str, kind: str, a_start: int, a_end: int, cache: dict[int, list[_Cand]]) -> _Cand | None:
    best: _Cand | None = None
    for pos in _starts(text, kind, a_start, a_end):
        if pos not in cache:
            cache[pos] = _lines_at(text, pos)
        for cand in cache[pos]:
            if kind not in ("after", "prevline") and cand.end < a_start:
                continue  # does not reach this anchor
            end, ev = _extend(text, cand)
            conf = cand.conf + ev
            start = cand.start
            before = text[max(0, start - 60) : start]
            corner = _CORNER.search(before) if "corner" in before else None
            if corner:
                start -= len(before) - corner.start()
                conf += 0.4
                m = _AND_STREET.match(text, end)
                if m:
                    end = m.end()
            tail = before[-30:]
            unit_line = _UNIT_LINE_BEFORE.search(before) if any(u in tail for u in UNIT_WORDS) else None
            if unit_line and (unit_line.group("unit3") is None or _TWO_NUMBERS.match(text, cand.start)):
                group = next(g for g in ("unit", "unit2", "unit3") if unit_line.group(g))
                start -= len(before) - unit_line.start(group)
                conf += 0.2
            context = _context(before[-50:].split("\n\n")[-1]) if conf < 0.99 else 0.0
            conf += context
            if not ev and not context and cand.kind == "us" and _ONE_DIGIT.match(text, cand.start):
                conf -= 0.3  # "3 Main Street Journals", "2 Park Avenue apartments": a count, not a house

            # Glued to an identifier or a path: code, not an address.
            if start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_.$@/\\([{=<"):
                conf -= 0.4
            if best is None or conf > best.conf or (conf == best.conf and end - start > best.end - best.start):
                best = _Cand(start, end, cand.kind, conf)
        if best is not None and best.conf >= 0.99:
            break  # earliest start first: a later one can only be a shorter version of this line
    return best


def find_street_addresses(text: str, min_confidence: float = MIN_CONFIDENCE) -> list[Detection]:
    """Street addresses in ``text``, sorted by start, non-overlapping."""
    if not text:
        return []
    sc = scan(text)
    if sc.addresses is None:
        sc.addresses = _find(text, sc, 0.3)  # cached with a low floor; callers filter
    return [d for d in sc.addresses if d.confidence >= min_confidence]


def street_spans(sc: Scan) -> list[tuple[int, int]]:
    """Spans of the likely (>= 0.5) addresses of a scan, for the name detector."""
    if sc.addresses is None:
        sc.addresses = _find(sc.text, sc, 0.3)
    return [(d.start, d.end) for d in sc.addresses if d.confidence >= MIN_CONFIDENCE]


def _find(text: str, sc: Scan, min_confidence: float) -> list[Detection]:
    if not sc.anchors:
        return []
    data = sc.data
    if is_ascii_encoding(text, data):
        anchors = [(k, s - 1, e - 1) for k, s, e in sc.anchors]
    else:
        # Anchor edges may fall inside a multi-byte character (the byte classes are loose): snap them.
        fixed = [(k, _snap(data, s), _snap(data, e)) for k, s, e in sc.anchors]
        conv = byte_to_char(data, [o for _, s, e in fixed for o in (s, e)])
        anchors = [(k, conv[s], conv[e]) for k, s, e in fixed]
    anchors.sort(key=lambda a: a[1])
    cache: dict[int, list[_Cand]] = {}
    found: list[_Cand] = []
    # Pathological input ("Rue Rue Rue…", "1 Main 1 Main…") has an anchor every few characters; real
    # text has a few per kilobyte. A work budget proportional to the length keeps the time linear.
    budget = 2000 + len(text) // 100
    for k, a_start, a_end in anchors:
        a_start = max(a_start, 0)
        if found and a_end <= found[-1].end and _KINDS[k] != "after":
            continue  # inside an address already found
        budget -= 1
        if budget < 0:
            break
        cand = _verify(text, _KINDS[k], a_start, a_end, cache)
        if cand is None or cand.conf < min_confidence:
            continue
        end = cand.end
        while end > cand.start and text[end - 1] in " \t\n,;>":
            end -= 1
        if text[end - 1 : end] == ".":
            # A sentence full stop after a city ("… Montehermoso Cáceres."), not an abbreviation ("Main St.").
            word = text[max(cand.start, end - 12) : end - 1].rsplit(None, 1)[-1]
            if len(word) > 3 and word.lower() not in _ABBREVIATIONS:
                end -= 1
        cand.end = end
        if found and cand.start < found[-1].end:
            prev = found[-1]
            if cand.end - cand.start > prev.end - prev.start or cand.conf > prev.conf + 0.2:
                found[-1] = _Cand(
                    min(prev.start, cand.start), max(prev.end, cand.end), cand.kind, max(prev.conf, cand.conf)
                )
            continue
        found.append(cand)
    return [Detection(TYPE, c.start, c.end, round(min(c.conf, 0.99), 3), f"street_address.{c.kind}") for c in found]


def _snap(data: bytes, off: int) -> int:
    while 1 < off < len(data) and 0x80 <= data[off] < 0xC0:
        off -= 1
    return max(off, 1)
