#!/usr/bin/env python3
"""Writes labelled_pairs.csv: screening queries labelled match (with the listed entity they must
find) or no-match, each with where it came from.

Deterministic (seeded). Positives are variants of real entries of lists/ (SDN and DPL) made by
the rules below; negatives are names made up from common given names, surnames and company
words, plus hand-written hard cases. The hand-written rows are at the end, in HAND. Run from
this directory: python3 make_labelled_pairs.py
"""
import csv
import hashlib
import random

random.seed(20211201)

sdn = [r for r in csv.reader(open("lists/ofac-sdn/sdn.csv", encoding="utf-8")) if len(r) == 12]
alt = [r for r in csv.reader(open("lists/ofac-sdn/alt.csv", encoding="utf-8")) if len(r) == 5]
dpl = list(csv.DictReader(open("lists/bis-dpl.txt", encoding="utf-8"), delimiter="\t"))
kind = {r[0]: r[2].strip() for r in sdn}
individuals = [r for r in sdn if r[2].strip() == "individual" and r[1].count(",") == 1]
entities = [r for r in sdn if r[2].strip() == "-0-"]

rows = []


def add(query, entity, label, source):
    rows.append((query, entity, label, source))


def title(s):
    return " ".join(w.capitalize() for w in s.split())


def swap(name):
    surname, given = name.split(",", 1)
    return f"{given.strip()} {title(surname.strip())}"


# Positives ------------------------------------------------------------------------------------
for r in random.sample(individuals, 15):
    add(swap(r[1]), r[0], "match", f"SDN {r[0]} primary name, given names first, title case")

def typo(name):
    words = name.split()
    i = max(range(len(words)), key=lambda k: len(words[k]))
    w = words[i]
    letters = [k for k in range(2, len(w) - 1) if w[k].isalpha()]
    k = random.choice(letters)
    repl = random.choice([c for c in "AEIOUNRSTLM" if c != w[k].upper()])
    words[i] = w[:k] + (repl if w[k].isupper() else repl.lower()) + w[k + 1:]
    return " ".join(words)

long_names = [r for r in sdn if max(len(w) for w in r[1].replace(",", " ").split()) >= 7]
for r in random.sample(long_names, 15):
    add(typo(r[1]), r[0], "match", f"SDN {r[0]} primary name with one letter substituted in its longest word")

aliases = [a for a in alt if len(a[3].split()) >= 2]
for a in random.sample(aliases, 12):
    name = swap(a[3]) if kind.get(a[0]) == "individual" and a[3].count(",") == 1 else title(a[3])
    add(name, a[0], "match", f"SDN {a[0]} alias ({a[2].strip()}) {a[3]!r}")

ACCENT = {"E": "É", "A": "Á", "O": "Ó", "I": "Í", "U": "Ú", "N": "Ñ"}
hispanic = [r for r in individuals if r[3].startswith("SDNT")]
for r in random.sample(hispanic, 10):
    out, done = [], 0
    for w in swap(r[1]).split():
        k = next((k for k in range(len(w) - 1, 0, -1) if w[k].upper() in ACCENT), None)
        if k is not None and done < 2:
            ch = ACCENT[w[k].upper()]
            w = w[:k] + (ch if w[k].isupper() else ch.lower()) + w[k + 1:]
            done += 1
        out.append(w)
    add(" ".join(out), r[0], "match", f"SDN {r[0]} primary name with accents added")

three = [r for r in individuals if len(r[1].split(",")[1].split()) >= 2 and len(r[1].split(",")[0].split()) == 1]
for r in random.sample(three, 8):
    surname, given = r[1].split(",", 1)
    g = given.split()
    add(f"{g[0]} {title(surname)}", r[0], "match", f"SDN {r[0]} with only its first given name (later given names dropped)")

SUFFIXES = ["S.A.", "LTD.", "LLC", "LIMITED", "INC.", "CO.", "S.A. DE C.V.", "LTDA."]
with_suffix = [r for r in entities if any(r[1].endswith(" " + s) or r[1].endswith(", " + s) for s in SUFFIXES) and len(r[1].split()) >= 3]
for r in random.sample(with_suffix, 8):
    base = r[1]
    for s in sorted(SUFFIXES, key=len, reverse=True):
        if base.endswith(s):
            base = base[: -len(s)].rstrip(" ,")
            break
    add(title(base) + " " + random.choice(["Ltd", "GmbH", "LLC", "S.A.", "Inc."]), r[0], "match",
        f"SDN {r[0]} entity with its legal form replaced, title case")


def dpl_id(row):
    h = hashlib.sha256()
    for part in (row["Name"], row["Street_Address"], row["City"], row["Effective_Date"]):
        h.update(part.strip().encode())
        h.update(b"\0")
    return "dpl-" + h.hexdigest()[:16]

people = [d for d in dpl if len(d["Name"].split()) in (2, 3) and "," not in d["Name"]]
for d in random.sample(people, 8):
    words = d["Name"].split()
    add(f"{title(words[-1])}, {title(' '.join(words[:-1]))}", dpl_id(d), "match", "DPL row, written SURNAME, Given")
for d in random.sample(people, 4):
    add(typo(d["Name"]), dpl_id(d), "match", "DPL row with one letter substituted in its longest word")

# Negatives ------------------------------------------------------------------------------------
FIRST = ["James", "Mary", "Robert", "Patricia", "Michael", "Jennifer", "William", "Linda", "David",
         "Elizabeth", "Thomas", "Susan", "Sarah", "Daniel", "Emma", "Lukas", "Sophie", "Hiroshi",
         "Mei", "Priya", "Olga", "Pierre", "Giulia", "Lars", "Aoife"]
LAST = ["Miller", "Johnson", "Williams", "Brown", "Taylor", "Anderson", "Thompson", "White",
        "Harris", "Clarke", "Schmidt", "Fischer", "Tanaka", "Wang", "Sharma", "Kowalski",
        "Dubois", "Rossi", "Lindqvist", "Murphy", "Novak", "Jensen", "OConnor", "Becker", "Walsh"]
for i in range(25):
    add(f"{FIRST[i]} {random.choice(LAST)}", "", "no-match", "made-up common given name and surname")

COMMON_LISTED_GIVEN = ["Mohammed", "Ali", "Ahmad", "Juan Carlos", "Jose", "Abdul", "Hassan", "Sergei", "Ivan", "Kim"]
for i, g in enumerate(COMMON_LISTED_GIVEN):
    add(f"{g} {LAST[(i * 7) % len(LAST)]}", "", "no-match", "given name common on the SDN with an unrelated surname")

generic = ["TRADING", "INTERNATIONAL", "GROUP", "INDUSTRIES", "HOLDING", "SHIPPING", "BANK", "INVESTMENT"]
WORDS = ["Blue River", "Northwind", "Summit Peak", "Maple Leaf", "Silver Birch", "Oakridge",
         "Harbor Light", "Redstone", "Clearwater", "Pinecrest", "Bright Horizon", "Granite",
         "Evergreen", "Lakeside", "Sunflower"]
shared = [r for r in entities if any(g in r[1].split() for g in generic)]
for i, r in enumerate(random.sample(shared, 15)):
    g = next(g for g in generic if g in r[1].split())
    add(f"{WORDS[i]} {g.capitalize()} Ltd", "", "no-match", f"shares the word {g} with SDN {r[0]} {r[1]!r}, other words made up")

PRINCIPALS = ["Acme Analytics GmbH", "Contoso Pharmaceuticals Inc.", "Northwind Traders Ltd",
              "Fabrikam Robotics", "Globex Corporation", "Initech LLC", "Umbrella Health Services",
              "Wayne Logistics S.A.", "Stark Precision Engineering", "Tyrell Biotech AG"]
for p in PRINCIPALS:
    add(p, "", "no-match", "made-up company name of the kind a gateway's principals have")

HAND = [
    # Positives written by hand.
    ("Ayman al-Zawahiri", "2676", "match", "hand: SDN 2676 as news media write it"),
    ("Bashar al-Assad", "12735", "match", "hand: SDN 12735 as news media write it"),
    ("Аркадий Ротенберг", "16669", "match", "hand: SDN 16669 (ROTENBERG, Arkady) in Cyrillic"),
    ("Геннадий Тимченко", "16666", "match", "hand: SDN 16666 (TIMCHENKO, Gennady) in Cyrillic"),
    ("Игорь Сечин", "16692", "match", "hand: SDN 16692 (SECHIN, Igor) in Cyrillic"),
    ("Юрий Ковальчук", "16680", "match", "hand: SDN 16680 (KOVALCHUK, Yuri Valentinovich) in Cyrillic, no patronymic"),
    ("Joaquín Guzmán Loera", "6861", "match", "hand: SDN 6861 with Spanish accents"),
    ("Joaquin Guzman", "6861", "match", "hand: SDN 6861 without the second surname"),
    ("Alexander Lukashenko", "9760", "match", "hand: SDN 9760 (LUKASHENKA, Alyaksandr Hryhoryavich) in its Russian-derived English spelling"),
    ("Manuel Noriega", "1572", "match", "hand: SDN 1572 without the second given name"),
    ("Banco Nacional de Cuba S.A.", "306", "match", "hand: SDN 306 with a legal form added"),
    ("National Bank of Cuba", "306", "match", "hand: SDN 306 alias"),
    ("Aerocaribbean Airlines Ltd", "36", "match", "hand: SDN 36 with a legal form added"),
    ("Zawahiri Ayman", "2676", "match", "hand: SDN 2676 surname first, no comma, no article"),
    ("بشار الأسد", "12735", "match", "hand: SDN 12735 in Arabic script"),
    # Negatives written by hand: hard ones.
    ("Maria Rotenberg", "", "no-match", "hand: listed surname (ROTENBERG) with a different given name"),
    ("Carlos Guzman", "", "no-match", "hand: surname shared with several SDN entries, other given name"),
    ("Mohammad", "", "no-match", "hand: the commonest listed given name alone"),
    ("Smith", "", "no-match", "hand: a common surname alone"),
    ("International Trading Company", "", "no-match", "hand: only generic company words"),
    ("Golden Sun Trading", "", "no-match", "hand: one word off SDN's GOLDEN STAR TRADING"),
    ("Cuba Libre Cocktail Bar", "", "no-match", "hand: shares CUBA with many SDN entries"),
    ("Anna Lukic", "", "no-match", "hand: listed surname (LUKIC) with a different given name"),
    ("Petit Chaffori", "", "no-match", "hand: similar to an alias remark but not an alias"),
    ("Global Shipping Services", "", "no-match", "hand: generic shipping company"),
]
for row in HAND:
    add(*row)

with open("labelled_pairs.csv", "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(["query", "expected_entity_id", "label", "source"])
    w.writerows(rows)
pos = sum(1 for r in rows if r[2] == "match")
print(f"{len(rows)} pairs, {pos} positives")
