"""In a real Chromium: video forecasting launched from the form on tiny
settings; the page shows the methods, the error-against-horizon curves, the
gallery, and a forecast video that the browser decodes and plays (H.264)."""
from __future__ import annotations

import pytest

from webapp.models import Network

from .flows import launch, login
from .test_launch_from_form import OUT, live_worker  # noqa: F401  (fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_video_forecast_from_the_form_plays_its_videos(live_server, live_worker, browser_page, django_user_model):
    page, url = browser_page, live_server.url
    login(page, url, django_user_model)
    exp = launch(page, url, "video-forecast", "local-cpu", "forecast in the browser",
                 {"train_scenes": 2, "pose_scenes": 2, "test_scenes": 1, "scene_seconds": 2, "image_size": 32,
                  "observed_frames": 4, "future_frames": 3, "max_people": 3, "clip_stride": 8, "hidden": 8,
                  "pose_epochs": 1, "seeds": 1, "batch_size": 8, "renderer_steps": 2, "renderer_width": 4, "pixel_steps": 2, "render_batch": 2,
                  "eval_clips": 2, "video_clips": 1})
    methods = {c.metrics["method"] for c in exp.candidates.all()}
    assert {"hierarchical", "no-group", "one-group", "constant-velocity", "zero-velocity", "pixel-convgru"} <= methods
    assert "composed from real motion capture" in exp.summary["message"]
    assert Network.objects.filter(experiment=exp, builder="pose-forecast").count() == 3
    video_nets = Network.objects.filter(experiment=exp, builder="video-forecast")
    assert set(video_nets.values_list("problem_kind", flat=True)) == {"video-forecast"} and video_nets.count() == 2
    page.wait_for_selector("#series .js-plotly-plot", timeout=20_000)
    assert "pose error (px)" in page.inner_text("#series")
    video = page.wait_for_selector("figure.video video", timeout=20_000)
    video.evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function("() => { const v = document.querySelector('figure.video video');"
                           " return v.readyState >= 2 && v.duration > 0 && v.currentTime > 0; }", timeout=20_000)
    assert video.evaluate("v => v.videoWidth") > 0
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "forecast-page.png"), full_page=True)
    for net in Network.objects.filter(experiment=exp):  # each kept network has its page
        response = page.goto(f"{url}/networks/{net.pk}/")
        assert response.status == 200 and net.name in page.inner_text("main")
