"""The web pages in a real browser: what coaches, employers and the data team do with them.

Each test logs in through the login form in a fresh browser profile and works the pages as a
person would (labels, buttons, the keyboard); the screenshots of the main pages under
`docs/screens/` are written by `test_main_pages_at_both_screen_sizes`.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from api.web.labels import LANES
from matching.domain import Lane, Role
from tests.browser.conftest import LAPTOP, PASSWORD, PHONE, SCREENS, Site, log_in

JOBS = LANES[Lane.JOBS]
ASF = LANES[Lane.ASF]


def lane(page: Page, name: str) -> Locator:
    return page.locator("section.lane").filter(has=page.get_by_role("heading", name=name))


def open_suggestions(page: Page, site: Site, participant: str) -> None:
    """From the participant list to the participant's suggestions, by links."""
    reference = site.participants[participant][1]
    page.get_by_role("link", name=reference, exact=True).click()
    expect(page.get_by_role("heading", name=f"Deltagare {reference}")).to_be_visible()
    page.get_by_role("link", name="Visa förslag").click()
    expect(page.get_by_role("heading", name=f"Förslag för {reference}")).to_be_visible()


def test_a_coach_reviews_both_lanes_and_a_never_is_gone_after_reload(
    page: Page, site: Site
) -> None:
    log_in(page, site, Role.COACH)
    expect(page).to_have_url(re.compile("/web/participants$"))
    open_suggestions(page, site, "review")

    for name in (JOBS, ASF):
        cards = lane(page, name).locator("li.card")
        expect(cards.first).to_be_visible()
        expect(cards.first.locator("ul.reasons li").first).not_to_be_empty()
        expect(cards.first.locator("svg.bars rect").first).to_be_attached()

    jobs = lane(page, JOBS)
    first = jobs.locator("li.card").first
    item = first.get_attribute("data-item")
    title = first.locator("h3").inner_text()
    assert item
    assert jobs.locator(f'li.card[data-item="{item}"]').count() == 1

    # "Never" needs a reason: without one nothing is saved and the page says why.
    first.get_by_role("button", name="Aldrig").click()
    expect(page.get_by_role("alert")).to_contain_text("Välj en anledning")
    expect(jobs.locator(f'li.card[data-item="{item}"]')).to_have_count(1)

    card = jobs.locator(f'li.card[data-item="{item}"]')
    card.get_by_label("Anledning").select_option(label="Fel yrke")
    card.get_by_label("Kommentar (valfri)").fill("Vill inte ha det här yrket")
    card.get_by_role("button", name="Aldrig").click()
    expect(page.get_by_role("status")).to_have_text("Beslutet är sparat.")

    page.reload()
    expect(lane(page, JOBS).locator("li.card").first).to_be_visible()
    expect(lane(page, JOBS).locator(f'li.card[data-item="{item}"]')).to_have_count(0)
    # The decision is in the participant's history with its reason.
    page.get_by_role("link", name="Till profilen").click()
    decisions = page.locator("section").filter(
        has=page.get_by_role("heading", name="Beslut om förslag")
    )
    newest = decisions.locator("tbody tr").first
    for text in (title, "Aldrig", "Fel yrke", "Vill inte ha det här yrket"):
        expect(newest).to_contain_text(text)


def test_an_employer_publishes_an_opening_and_a_coach_then_sees_it_suggested(
    page: Page, site: Site
) -> None:
    log_in(page, site, Role.EMPLOYER)
    expect(page.get_by_role("heading", name="Mina annonser")).to_be_visible()
    page.get_by_role("link", name="Ny annons").click()

    page.get_by_label("Titel").fill("Florist till blomsterbutik")
    page.get_by_label("Yrke", exact=True).fill("Florist")
    page.get_by_label("Kommun", exact=True).fill("Södertälje")
    page.get_by_label("Beskrivning").fill(
        "Vi söker en florist som binder buketter, sköter växter och hjälper kunder i butiken."
    )
    page.get_by_label("Minst timmar per vecka").fill("30")
    page.get_by_label("Högst timmar per vecka").fill("20")
    page.get_by_role("button", name="Publicera annonsen").click()

    # The message stands next to its field, and the field says it is invalid.
    hours_max = page.get_by_label("Högst timmar per vecka")
    expect(hours_max).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-hours_max-error")).to_contain_text(
        "Får inte vara mindre än det lägsta antalet."
    )
    expect(page.get_by_label("Titel")).to_have_value("Florist till blomsterbutik")
    hours_max.fill("30")
    page.get_by_label("Minst timmar per vecka").fill("20")
    page.get_by_role("button", name="Publicera annonsen").click()
    expect(page.get_by_role("status")).to_contain_text("Annonsen är publicerad")
    expect(page.get_by_role("row").filter(has_text="Florist till blomsterbutik")).to_contain_text(
        "Öppen"
    )

    coach = page.context.browser
    assert coach is not None
    other = coach.new_context(base_url=site.url, viewport=LAPTOP, locale="sv-SE")
    try:
        coach_page = other.new_page()
        log_in(coach_page, site, Role.COACH)
        open_suggestions(coach_page, site, "florist")
        expect(
            lane(coach_page, JOBS).get_by_role(
                "heading", name="Florist till blomsterbutik", exact=True
            )
        ).to_be_visible()
    finally:
        other.close()


def test_the_data_team_promotes_a_candidate_and_rolls_back(page: Page, site: Site) -> None:
    log_in(page, site, Role.DATA_TEAM)
    expect(page.get_by_role("heading", name="Modeller", exact=True)).to_be_visible()
    serving = page.locator("#serving")
    expect(serving).to_have_text("handset-1")

    version = page.locator("#version-1")
    expect(version.get_by_role("heading", name="stegvis-ranker/1")).to_be_visible()
    expect(version).to_contain_text("Kandidat – klarade grindarna")
    expect(version.locator(".gates li")).to_have_count(4)
    expect(version.locator(".gates .tag-bad")).to_have_count(0)
    expect(version.get_by_role("img")).to_have_count(1)  # the exposure figure
    expect(version).to_contain_text("kvinnor")

    version.get_by_role("button", name="Befordra till champion").click()
    expect(page.get_by_role("status")).to_have_text("Versionen används nu för alla förslag.")
    expect(serving).to_have_text("stegvis-ranker/1")
    expect(page.locator("#version-1")).to_contain_text("Används nu (champion)")

    page.get_by_role("button", name="Rulla tillbaka till föregående modell").click()
    expect(page.get_by_role("status")).to_have_text("Den tidigare modellen används igen.")
    expect(serving).to_have_text("handset-1")
    expect(page.get_by_role("button", name="Rulla tillbaka till föregående modell")).to_have_count(
        0
    )


def test_a_coach_cannot_open_another_organisations_participant_by_editing_the_url(
    page: Page, site: Site
) -> None:
    log_in(page, site, Role.COACH)
    other_id, other_ref = site.other_participant
    expect(page.get_by_role("link", name=other_ref)).to_have_count(0)
    for path in (f"/web/participants/{other_id}", f"/web/participants/{other_id}/suggestions"):
        response = page.goto(path)
        assert response is not None
        assert response.status == 404
        expect(page.get_by_role("heading", name="Sidan finns inte")).to_be_visible()
        expect(page.locator("body")).not_to_contain_text(other_ref)


def test_a_form_posted_without_its_csrf_token_is_refused(page: Page, site: Site) -> None:
    log_in(page, site, Role.COACH)
    participant, reference = site.participants["csrf"]
    page.goto(f"/web/participants/{participant}")
    profile = page.locator("form").filter(has=page.get_by_role("button", name="Spara profilen"))
    profile.get_by_label("Intressen").fill("Ändrat utan säkerhetskod")
    profile.locator('input[name="csrf_token"]').evaluate("input => input.remove()")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        profile.get_by_role("button", name="Spara profilen").click()
    assert posted.value.status == 403
    expect(page.get_by_role("heading", name="Åtkomst nekad")).to_be_visible()
    expect(page.locator("main")).to_contain_text("säkerhetskoden")

    page.goto(f"/web/participants/{participant}")
    expect(page.get_by_label("Intressen")).not_to_have_value("Ändrat utan säkerhetskod")
    expect(page.get_by_role("heading", name=f"Deltagare {reference}")).to_be_visible()


def test_keyboard_only_a_coach_reaches_and_activates_a_decision_button(
    page: Page, site: Site
) -> None:
    page.goto("/web/login")
    page.keyboard.press("Tab")  # the skip link comes first, then the logo's link
    expect(page.get_by_role("link", name="Hoppa till innehållet")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Användarnamn")).to_be_focused()
    page.keyboard.type(site.usernames[Role.COACH])
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Logga ut")).to_be_visible()

    participant, reference = site.participants["keyboard"]
    page.goto(f"/web/participants/{participant}/suggestions")
    expect(page.get_by_role("heading", name=f"Förslag för {reference}")).to_be_visible()
    jobs = lane(page, JOBS)
    first = jobs.locator("li.card").first
    item = first.get_attribute("data-item")
    shortlist = first.get_by_role("button", name="Kortlista")
    for _ in range(300):
        page.keyboard.press("Tab")
        if shortlist.evaluate("button => button === document.activeElement"):
            break
    expect(shortlist).to_be_focused()
    outline = shortlist.evaluate("button => getComputedStyle(button).outlineStyle")
    assert outline != "none", "the focused button must show where the focus is"
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("Beslutet är sparat.")
    card = lane(page, JOBS).locator(f'li.card[data-item="{item}"]')
    expect(card.locator(".decided")).to_contain_text("Kortlistad")


#: (file name, role, path) of the main pages; {participant} is the coach's review participant.
MAIN_PAGES = (
    ("login", None, "/web/login"),
    ("participants", Role.COACH, "/web/participants"),
    ("participant", Role.COACH, "/web/participants/{participant}"),
    ("suggestions", Role.COACH, "/web/participants/{participant}/suggestions"),
    ("openings", Role.EMPLOYER, "/web/openings"),
    ("opening-form", Role.EMPLOYER, "/web/openings/new"),
    ("models", Role.DATA_TEAM, "/web/models"),
)

WIDEST = """() => [...document.querySelectorAll('main *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth)
  .map(e => e.tagName + '.' + e.className).slice(-3)"""
#: Text (outside figures) whose colour has less than WCAG AA's 4.5:1 contrast with the
#: background it stands on.
LOW_CONTRAST = """() => {
  const channel = v => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  const luminance = colour => {
    const [r, g, b] = colour.match(/[0-9.]+/g).slice(0, 3).map(Number).map(channel);
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const background = e => {
    for (; e; e = e.parentElement) {
      const colour = getComputedStyle(e).backgroundColor;
      const parts = colour.match(/[0-9.]+/g);
      if (parts && (parts.length < 4 || Number(parts[3]) > 0)) return colour;
    }
    return 'rgb(255, 255, 255)';
  };
  const low = [];
  for (const e of document.querySelectorAll('body *')) {
    if (e.closest('svg') || e.getClientRects().length === 0) continue;
    if (![...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const [a, b] = [luminance(getComputedStyle(e).color), luminance(background(e))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const text = e.textContent.trim().slice(0, 30);
    if (ratio < 4.5) low.push(`${e.tagName} "${text}" ${ratio.toFixed(2)}`);
  }
  return low;
}"""
UNLABELLED_FIELDS = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(e => e.type !== 'hidden' && e.labels.length === 0 && !e.getAttribute('aria-label'))
  .map(e => e.name || e.id)"""


@pytest.mark.parametrize(("size", "viewport"), [("1280x720", LAPTOP), ("390x844", PHONE)])
def test_main_pages_at_both_screen_sizes(
    page: Page, site: Site, size: str, viewport: dict[str, int]
) -> None:
    """Every main page fits the screen without sideways scrolling, every field has a label,
    all text has enough contrast, the lanes stand side by side on a laptop and stack on a
    phone; screenshots are kept."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(viewport)
    signed_in: Role | None = None
    for name, role, path in MAIN_PAGES:
        if role is not None and role != signed_in:
            page.context.clear_cookies()
            log_in(page, site, role)
            signed_in = role
        response = page.goto(path.format(participant=site.participants["review"][0]))
        assert response is not None
        assert response.status == 200, name
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], (name, size, page.evaluate(WIDEST))
        assert page.evaluate(UNLABELLED_FIELDS) == [], name
        assert page.evaluate(LOW_CONTRAST) == [], name
        if name == "suggestions":
            jobs, asf = (lane(page, n).bounding_box() for n in (JOBS, ASF))
            assert jobs is not None
            assert asf is not None
            side_by_side = abs(jobs["y"] - asf["y"]) < 1 and asf["x"] > jobs["x"]
            assert side_by_side == (viewport is LAPTOP), f"lanes at {size}"
        page.screenshot(path=SCREENS / f"{name}-{size}.png")
