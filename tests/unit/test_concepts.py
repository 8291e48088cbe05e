"""Taxonomy occupations, skills and groups are recognised in free Swedish text."""

from __future__ import annotations

import pytest

from matching.concepts import ConceptRecogniser, Concepts, recogniser_for
from matching.settings import Settings
from matching.taxonomy import Taxonomy, load_taxonomy


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy(Settings().taxonomy_dir)


@pytest.fixture(scope="module")
def recogniser(taxonomy: Taxonomy) -> ConceptRecogniser:
    return recogniser_for(taxonomy)


def occupation_labels(concepts: Concepts, taxonomy: Taxonomy) -> set[str]:
    return {taxonomy.occupations[o].label for o in concepts.occupations}


def skill_labels(concepts: Concepts, taxonomy: Taxonomy) -> set[str]:
    return {taxonomy.skills[s].label for s in concepts.skills}


def occupation_id(taxonomy: Taxonomy, label: str) -> str:
    return next(o.id for o in taxonomy.occupations.values() if o.label == label)


@pytest.mark.parametrize(
    "text",
    [
        "Vill ha ett lagerarbete",
        "Jag har jobbat som lagerarbetare",
        "lagerarbetaren",
        "Lagerarbetarna på terminalen",
        "Jag vill jobba på ett lager",
        "Har erfarenhet av lager- och terminalarbete",
        "lagerjobb",
    ],
)
def test_warehouse_work_in_any_form_is_the_warehouse_worker(
    recogniser: ConceptRecogniser, taxonomy: Taxonomy, text: str
) -> None:
    concepts = recogniser.recognise(text)
    assert "Lagerarbetare/Terminalarbetare" in occupation_labels(concepts, taxonomy)
    assert "4322" in concepts.groups
    assert taxonomy.occupations[occupation_id(taxonomy, "Lagerarbetare/Terminalarbetare")].ssyk == (
        "4322"
    )


def test_the_exact_label_is_marked_exact_and_a_derived_form_is_not(
    recogniser: ConceptRecogniser,
) -> None:
    [exact] = [
        m
        for m in recogniser.recognise("Jag har jobbat som lagerarbetare").mentions
        if m.kind == "occupation"
    ]
    assert exact.exact
    assert exact.surface == "lagerarbetare"
    [derived] = [m for m in recogniser.recognise("städjobb").mentions if m.kind == "occupation"]
    assert derived.label == "Städare"
    assert not derived.exact
    assert derived.surface == "städjobb"


@pytest.mark.parametrize("text", ["Har truckkort", "Kan köra truck", "truckkörning"])
def test_truck_licence_driving_and_driver_meet(
    recogniser: ConceptRecogniser, taxonomy: Taxonomy, text: str
) -> None:
    concepts = recogniser.recognise(text)
    assert "Truckförare" in occupation_labels(concepts, taxonomy)
    assert "Truckvana" in skill_labels(concepts, taxonomy)
    assert "8344" in concepts.groups


def test_a_plain_truck_is_experience_but_not_the_occupation(
    recogniser: ConceptRecogniser, taxonomy: Taxonomy
) -> None:
    concepts = recogniser.recognise("Jag har vana av truck")
    assert "Truckvana" in skill_labels(concepts, taxonomy)
    assert not concepts.occupations


@pytest.mark.parametrize(
    "text",
    [
        "städjobb",
        "städning",
        "Jag städar på kontor",
        "lokalvård",
        "Har arbetat som lokalvårdare",
        "skolstädare",
        "Söker städare",
    ],
)
def test_cleaning_in_any_form_is_the_cleaner(
    recogniser: ConceptRecogniser, taxonomy: Taxonomy, text: str
) -> None:
    concepts = recogniser.recognise(text)
    assert "Städare" in occupation_labels(concepts, taxonomy)
    assert "9111" in concepts.groups


def test_office_cleaning_is_the_skill_and_the_occupation(
    recogniser: ConceptRecogniser, taxonomy: Taxonomy
) -> None:
    concepts = recogniser.recognise("Har erfarenhet av kontorsstädning")
    assert "Kontorsstädning" in skill_labels(concepts, taxonomy)
    assert "Städare" in occupation_labels(concepts, taxonomy)


@pytest.mark.parametrize(
    ("text", "occupation"),
    [
        ("restaurangbiträde", "Restaurangbiträde"),
        ("Vi söker en diskare", "Diskare"),
        ("Jag diskar i restaurangkök", "Diskare"),
        ("Söker köksbiträde till skolköket", "Köksbiträde"),
    ],
)
def test_restaurant_and_kitchen_work_is_group_9412(
    recogniser: ConceptRecogniser, taxonomy: Taxonomy, text: str, occupation: str
) -> None:
    concepts = recogniser.recognise(text)
    assert occupation in occupation_labels(concepts, taxonomy)
    assert "9412" in concepts.groups


def test_a_qualified_skill_needs_its_qualifier(
    recogniser: ConceptRecogniser, taxonomy: Taxonomy
) -> None:
    assert "Restaurangkök" in skill_labels(
        recogniser.recognise("Jag diskar i restaurangkök"), taxonomy
    )
    near = recogniser.recognise("Städning och diskning i restaurangkök")
    assert "Städning och diskning, restaurangkök" in skill_labels(near, taxonomy)
    alone = recogniser.recognise("Diskning av glas")
    assert "Diskning, laboratorium" not in skill_labels(alone, taxonomy)
    assert "Diskare" in occupation_labels(alone, taxonomy)


@pytest.mark.parametrize(
    "text", ["djurskötare", "Jag vill arbeta med djur på ett stall", "djurskötsel", "sköta djur"]
)
def test_animal_care_is_recognised(
    recogniser: ConceptRecogniser, taxonomy: Taxonomy, text: str
) -> None:
    concepts = recogniser.recognise(text)
    assert occupation_labels(concepts, taxonomy) & {"Djurskötare lantbruk", "Djurvårdare"}
    assert concepts.groups & {"6121", "6122", "6129"}


def test_specific_animal_occupations(recogniser: ConceptRecogniser, taxonomy: Taxonomy) -> None:
    assert "Hästskötare" in occupation_labels(recogniser.recognise("hästskötare"), taxonomy)
    assert "Smådjursskötare" in occupation_labels(
        recogniser.recognise("Jobbar som smådjursskötare"), taxonomy
    )


def test_group_labels_with_elided_compounds(
    recogniser: ConceptRecogniser, taxonomy: Taxonomy
) -> None:
    for text in ("Lager- och terminalpersonal", "lagerpersonal", "terminalpersonal"):
        assert "4322" in recogniser.recognise(text).groups, text
    kitchen = recogniser.recognise("Restaurang- och köksbiträden sökes")
    assert "9412" in kitchen.groups
    assert "Restaurangbiträde" in occupation_labels(kitchen, taxonomy)


def test_a_bare_modifier_is_not_a_compound(recogniser: ConceptRecogniser) -> None:
    concepts = recogniser.recognise("Jag har jobbat på ett lager i Borås")
    assert "1320" not in concepts.groups  # Lagerchef
    assert "4321" not in concepts.groups  # Arbetsledare lager och terminal
    assert recogniser.recognise("lager").groups == frozenset()


def test_acronym_labels_need_capitals(recogniser: ConceptRecogniser, taxonomy: Taxonomy) -> None:
    assert "MAN" not in skill_labels(recogniser.recognise("Jag är en man på 40 år"), taxonomy)
    assert "MAN" in skill_labels(recogniser.recognise("Service av MAN lastbilar"), taxonomy)
    assert "REST" not in skill_labels(recogniser.recognise("Resten av dagen"), taxonomy)


@pytest.mark.parametrize(
    "text",
    ["vara", "kan", "gärna", "arbete", "Jag kan vara där gärna, arbete är bra", "disken", "mål"],
)
def test_ordinary_words_are_no_concepts(recogniser: ConceptRecogniser, text: str) -> None:
    concepts = recogniser.recognise(text)
    assert not concepts.occupations
    assert not concepts.skills
    assert not concepts.groups
    assert concepts.mentions == ()


CAFE_AD = """
Kafébiträde till mysigt kafé i centrala Uppsala. Vi är ett litet familjeägt kafé som serverar
hembakat bröd, smörgåsar, sallader och kaffe av hög kvalitet. Nu söker vi en glad och
serviceinriktad medarbetare som vill vara en del av vårt team under sommaren och gärna längre.
Dina arbetsuppgifter består av att ta emot beställningar, stå i kassan, servera kunder, plocka
disk och hålla rent och snyggt i lokalen. Du kommer även att hjälpa till med enklare matlagning
och bakning i köket, till exempel att göra smörgåsar och baka kanelbullar. Vi ser gärna att du
har erfarenhet från restaurang, kafé eller butik, men det är inget krav. Det viktigaste är att
du är ansvarsfull, flexibel och tycker om att arbeta med människor. Du behöver kunna tala
svenska och engelska. Arbetstiderna är förlagda till dagtid, vardagar och varannan helg.
Tjänsten är på deltid, 75 procent, med start i juni. Hygienpass är meriterande. Välkommen!
"""


def test_a_long_cafe_ad_gives_few_and_related_concepts(
    recogniser: ConceptRecogniser, taxonomy: Taxonomy
) -> None:
    concepts = recogniser.recognise(CAFE_AD)
    assert len(concepts.skills) <= 8
    assert concepts.groups == {"9413"}  # Kafé- och konditoribiträden
    assert {"Kafé", "Kassavana"} <= skill_labels(concepts, taxonomy)
    mentioned = [m.surface.lower() for m in concepts.mentions]
    assert mentioned == sorted(mentioned, key=lambda s: CAFE_AD.lower().index(s))


def test_mentions_come_in_text_order_once_per_concept(recogniser: ConceptRecogniser) -> None:
    text = "Truckförare sökes. Du har truckkort och vill köra truck. Truckförare med B-körkort."
    mentions = recogniser.recognise(text).mentions
    assert len({(m.kind, m.concept_id) for m in mentions}) == len(mentions)
    positions = [text.index(m.surface) for m in mentions]
    assert positions == sorted(positions)


def test_primary_occupation_prefers_the_title(
    recogniser: ConceptRecogniser, taxonomy: Taxonomy
) -> None:
    guess = recogniser.primary_occupation(
        "Lagerarbetare till Postens terminal",
        "Du kommer att köra truck och plocka order. Truckkort är ett krav.",
    )
    assert guess is not None
    assert guess.label == "Lagerarbetare/Terminalarbetare"
    assert guess.ssyk == "4322"
    assert guess.from_title
    assert guess.evidence.surface == "Lagerarbetare"
    assert 0.8 <= guess.confidence <= 1.0


def test_primary_occupation_falls_back_to_the_body_with_less_confidence(
    recogniser: ConceptRecogniser,
) -> None:
    guess = recogniser.primary_occupation(
        "Extrajobb i sommar", "Vi söker städare till kontor och skolor i Malmö."
    )
    assert guess is not None
    assert guess.ssyk == "9111"
    assert not guess.from_title
    assert 0 < guess.confidence < 0.8


def test_primary_occupation_resolves_a_group_label_to_an_occupation(
    recogniser: ConceptRecogniser, taxonomy: Taxonomy
) -> None:
    guess = recogniser.primary_occupation("Lager- och terminalpersonal")
    assert guess is not None
    assert guess.ssyk == "4322"
    assert taxonomy.occupations[guess.occupation_id].ssyk == "4322"


def test_primary_occupation_is_none_without_evidence(recogniser: ConceptRecogniser) -> None:
    assert recogniser.primary_occupation("Sommarjobb", "Välkommen med din ansökan!") is None
    assert recogniser.primary_occupation("") is None


def test_one_recogniser_per_taxonomy(taxonomy: Taxonomy) -> None:
    assert recogniser_for(taxonomy) is recogniser_for(taxonomy)


def test_skills_alone_suggest_a_group_apart_from_the_named_ones(
    recogniser: ConceptRecogniser,
) -> None:
    text = "Vi söker dig med truckvana och erfarenhet av orderplockning och lagerinventering."
    concepts = recogniser.recognise(text)
    assert concepts.groups == frozenset()
    assert concepts.inferred_group == "4322"
    guess = recogniser.primary_occupation("Sommarjobb", text)
    assert guess is not None
    assert guess.ssyk == "4322"
    assert guess.evidence.kind == "skill"
    assert guess.confidence < 0.5


def test_no_group_is_inferred_when_one_is_named_or_from_one_skill(
    recogniser: ConceptRecogniser,
) -> None:
    named = recogniser.recognise("Lagerarbetare med truckvana och vana av orderplockning")
    assert named.groups == {"4322"}
    assert named.inferred_group is None
    assert recogniser.recognise("Har erfarenhet av orderplockning").inferred_group is None


def test_a_qualified_label_is_exact_only_with_its_qualifier(
    recogniser: ConceptRecogniser,
) -> None:
    full = recogniser.recognise("Har erfarenhet av maskinskötsel inom textilindustrin.")
    labels = {m.label: m.exact for m in full.mentions}
    assert labels["Maskinskötsel, textilindustrin"] is True
    alone = recogniser.recognise("Har erfarenhet av maskinskötsel.")
    assert "Maskinskötsel, textilindustrin" not in {m.label for m in alone.mentions}
    assert not alone.occupations  # "skötsel" is no "säljare": not "Maskinsäljare"


def test_an_occupation_qualifier_anywhere_in_the_text_decides(
    recogniser: ConceptRecogniser,
) -> None:
    alone = recogniser.recognise("Vi söker en undersköterska")
    assert alone.groups == {"5321", "5323"}
    assert not any(m.exact for m in alone.mentions)
    placed = recogniser.recognise(
        "Vi söker en undersköterska till vår avdelning. Du kommer att arbeta i hemtjänsten."
    )
    assert placed.groups == {"5321"}
    assert [m.exact for m in placed.mentions if m.kind == "occupation"] == [True]


def test_residual_groups_only_by_their_own_compounds(recogniser: ConceptRecogniser) -> None:
    assert recogniser.recognise("Vi söker en kontorsassistent").groups == {"4119"}
    assert recogniser.recognise("Vi söker en maskinoperatör").groups == frozenset()


@pytest.mark.parametrize(
    "text",
    [
        "Fiskar och målar på fritiden",  # pastimes, not Fiskare and Målare
        "Goda kunskaper i Office",  # not Officer
        "God fysik krävs",  # the skill, not the group of physicists
        "Bakar bröd hemma",
    ],
)
def test_look_alikes_name_no_occupation(recogniser: ConceptRecogniser, text: str) -> None:
    concepts = recogniser.recognise(text)
    assert not concepts.occupations
    assert not concepts.groups


def test_a_verb_and_its_object_name_the_activity(
    recogniser: ConceptRecogniser, taxonomy: Taxonomy
) -> None:
    concepts = recogniser.recognise("Kan putsa fönster och städa trappor")
    assert {"Fönsterputsning", "Trappstädning"} <= skill_labels(concepts, taxonomy)


def test_shop_staff_are_shop_sellers(recogniser: ConceptRecogniser) -> None:
    for text in ("Butiksmedarbetare sökes", "Vi söker säljare till vår butik"):
        assert recogniser.recognise(text).groups == {"5222", "5223"}, text


def test_a_text_in_capitals_is_read_as_words(
    recogniser: ConceptRecogniser, taxonomy: Taxonomy
) -> None:
    concepts = recogniser.recognise("LAGERARBETARE SÖKES! VI SÖKER EN MAN ELLER KVINNA")
    assert "Lagerarbetare/Terminalarbetare" in occupation_labels(concepts, taxonomy)
    assert "MAN" not in skill_labels(concepts, taxonomy)


@pytest.mark.parametrize("text", ["", "   ", "12345 !!! ??", "lager-", "Lager- och", "x" * 5000])
def test_odd_texts_give_nothing_and_do_not_fail(recogniser: ConceptRecogniser, text: str) -> None:
    assert recogniser.recognise(text) == Concepts(frozenset(), frozenset(), frozenset(), ())
    assert recogniser.primary_occupation(text, text) is None


@pytest.mark.parametrize(
    ("text", "group"),
    [
        ("Vill städa, tycker om när det blir rent.", "9111"),
        ("Städade hotellrum i några månader.", "9111"),
        ("Vill laga mat eller hjälpa till i ett kök.", "9412"),
        ("Har jobbat som bilmekaniker", "7231"),
    ],
)
def test_a_participants_own_words_name_the_wished_job(
    recogniser: ConceptRecogniser, text: str, group: str
) -> None:
    assert group in recogniser.recognise(text).groups


def test_a_job_word_followed_by_its_field(recogniser: ConceptRecogniser) -> None:
    assert "6113" in recogniser.recognise("Säsongsarbetare park och trädgård").groups


def test_a_named_product_needs_no_kind(recogniser: ConceptRecogniser, taxonomy: Taxonomy) -> None:
    concepts = recogniser.recognise("Du har goda kunskaper i Python och Java.")
    assert {"Python, programmeringsspråk", "Java, programmeringsspråk"} <= skill_labels(
        concepts, taxonomy
    )
    assert not recogniser.recognise("Vi har en python i terrariet").skills


def test_children_are_no_bar(recogniser: ConceptRecogniser, taxonomy: Taxonomy) -> None:
    concepts = recogniser.recognise("Jag vill jobba med barn")
    assert "Barnskötare" in occupation_labels(concepts, taxonomy)
    assert "Bararbete" not in skill_labels(concepts, taxonomy)


def test_a_product_after_alternative_names_qualifies_each_of_them(
    recogniser: ConceptRecogniser, taxonomy: Taxonomy
) -> None:
    """'Analys/Beräkning-Ansys' is analysis *in Ansys*: the bare word is not this skill."""
    assert not recogniser.recognise("Kan analys och samordning").skills
    found = skill_labels(recogniser.recognise("Kan analys i Ansys"), taxonomy)
    assert found == {"Analys/Beräkning-Ansys"}
