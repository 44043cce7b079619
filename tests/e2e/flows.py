"""Steps the browser tests share: log in, fill and launch the new-experiment
form and wait for the job to end."""
from __future__ import annotations

from webapp.models import Experiment


def check_only(page, name: str, values) -> None:
    """Tick exactly ``values`` among the checkboxes called ``name``."""
    for box in page.query_selector_all(f"input[name={name}]"):
        if box.get_attribute("value") in values:
            box.check()
        else:
            box.uncheck()


def login(page, url, django_user_model):
    django_user_model.objects.create_user(username="nora", password="nora-pass-123")
    page.goto(url + "/experiments/new/")
    page.fill("input[name=username]", "nora")
    page.fill("input[name=password]", "nora-pass-123")
    page.click("button[type=submit]")
    page.wait_for_url("**/experiments/new/**")


def launch(page, url, technique, hardware, name, fields, selects=None, advanced=None, keep_form=False, files=None):
    """Fill the new-experiment form (``keep_form``: already open on this
    technique; ``files``: setting -> a local file to upload), launch, and wait
    until the job has ended and the page reloaded."""
    if not keep_form:
        page.goto(url + "/experiments/new/")
        page.select_option("#id_technique", technique)
    page.wait_for_selector(f"#config-form input[name=cfg-{next(iter(fields))}]", timeout=10_000)
    page.select_option("#id_hardware", hardware)
    page.fill("input[name=name]", name)
    for k, v in fields.items():
        page.fill(f"input[name=cfg-{k}]", str(v))
    for k, v in (selects or {}).items():
        page.select_option(f"select[name=cfg-{k}]", str(v))
    for k, v in (files or {}).items():
        page.set_input_files(f"input[name=cfg-{k}]", str(v))
    if advanced:
        page.click("#config-form details.advanced summary")
        for k, v in advanced.items():
            page.fill(f"input[name=cfg-{k}]", str(v))
    page.click("button:has-text('Launch')")
    page.wait_for_url("**/experiments/*/", timeout=15_000)
    # a selector, not wait_for_function: Playwright evaluates a function's text with eval, which the
    # site's Content-Security-Policy refuses
    page.wait_for_selector("#status[data-status=succeeded], #status[data-status=failed], "
                           "#status[data-status=cancelled]", state="attached", timeout=240_000)
    exp = Experiment.objects.get(name=name)
    assert exp.status == "succeeded", exp.error
    page.wait_for_selector("#cancel-btn", state="detached", timeout=15_000)  # the page reloads when it ends
    return exp
