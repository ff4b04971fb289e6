"""The live page in real headless Chromium (Debian's `chromium`, driven by Playwright) against a
running daemon playing posed faces: a happy face, then a surprised one, in a loop."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

from polling import wait_until

LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
BACKGROUND = (11, 12, 16)  # the canvas's blank colour (#0b0c10 in live.js)
EMOTION_RGB = {"happy": (245, 184, 0), "surprise": (247, 107, 21)}  # live.js's palette

READ_CAMERA = """(name) => {
  const section = document.querySelector(`section.camera[data-camera="${name}"]`);
  const bars = {};
  for (const item of section.querySelectorAll(".bars li")) {
    bars[item.dataset.label] = Number(item.dataset.value);
  }
  return {
    dominant: section.querySelector(".dominant").dataset.emotion,
    bars,
    status: document.getElementById("status").dataset.state,
  };
}"""

# Counts of canvas pixels: blank background, each emotion colour, and distinct colours.
# Until the canvas shows what a test expects (under load the box of the moment may be
# missing in a single read): the counts are the condition's argument.
CANVAS_SHOWS = """([name, background, colors, least]) => {
  const c = (READ)([name, background, colors]);
  const ok = c.distinct >= least.distinct && c.background <= least.background * c.total
    && c.happy + c.surprise >= least.box;
  return ok ? c : null;
}"""

READ_CANVAS = """([name, background, colors]) => {
  const canvas = document.querySelector(`section.camera[data-camera="${name}"] canvas`);
  // Read through a copy made for reading: repeated reads of the page's own canvas make
  // Chromium warn (willReadFrequently), and the tests count every console warning.
  const copy = document.createElement("canvas");
  copy.width = canvas.width;
  copy.height = canvas.height;
  const context = copy.getContext("2d", { willReadFrequently: true });
  context.drawImage(canvas, 0, 0);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  const counts = { total: data.length / 4, background: 0, distinct: 0 };
  for (const key of Object.keys(colors)) counts[key] = 0;
  const seen = new Set();
  for (let i = 0; i < data.length; i += 4) {
    const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
    if (r === background[0] && g === background[1] && b === background[2]) counts.background++;
    for (const [key, c] of Object.entries(colors)) {
      if (r === c[0] && g === c[1] && b === c[2]) counts[key]++;
    }
    seen.add((r << 16) | (g << 8) | b);
  }
  counts.distinct = seen.size;
  return counts;
}"""


def canvas_showing(page, distinct: int = 0, background: float = 1.0, box: int = 0,
                   timeout_ms: int = 30_000) -> dict:
    """The canvas counts once they show at least `distinct` colours, at most a `background`
    share of background pixels and `box` pixels in the happy or surprise colour (polling)."""
    script = CANVAS_SHOWS.replace("(READ)", f"({READ_CANVAS})")
    least = {"distinct": distinct, "background": background, "box": box}
    handle = page.wait_for_function(script, arg=["posed", BACKGROUND, EMOTION_RGB, least],
                                    timeout=timeout_ms, polling=200)
    return handle.json_value()


def open_live_page(browser, url: str, problems: list[str]):
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.goto(url)
    page.wait_for_selector('section.camera[data-camera="posed"]', timeout=30_000)
    return page


def watch(page, seconds: float) -> list[dict]:
    samples = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        samples.append(page.evaluate(READ_CAMERA, "posed"))
        time.sleep(0.1)
    return samples


def posed_camera(video: Path) -> dict:
    return {"posed": {"source": {"type": "file", "path": str(video), "loop": True},
                      "interval_ms": 0}}


def test_live_page_moves_bars_switches_the_dominant_emotion_and_draws_boxes(
    posed_faces_video, daemon_factory, serve_daemon, browser
):
    served = serve_daemon(daemon_factory, posed_camera(posed_faces_video))
    problems: list[str] = []
    page = open_live_page(browser, f"{served.http}/live", problems)
    samples = watch(page, 4.5)  # two rounds of happy, then surprise

    assert list(samples[-1]["bars"]) == LABELS
    assert {s["status"] for s in samples} == {"ok"}
    # The bars move with the faces: up for the happy one, down for the surprised one.
    happy = [s["bars"]["happy"] for s in samples]
    surprise = [s["bars"]["surprise"] for s in samples]
    assert max(happy) > 0.9 and min(happy) < 0.1, happy
    assert max(surprise) > 0.3 and min(surprise) < 0.05, surprise
    dominants = [s["dominant"] for s in samples]
    assert {"happy", "surprise"} <= set(dominants), dominants  # the label changes
    switches = sum(1 for a, b in itertools.pairwise(dominants) if a != b)
    assert switches >= 2

    # A moment when the face's box and label are on the canvas in its emotion colour (happy,
    # or surprise right after the video switched faces).
    canvas = canvas_showing(page, box=301)
    assert canvas["background"] > 0.8 * canvas["total"]  # no camera image: a blank frame
    assert "Camera images are off" in page.inner_text("#footer")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "live_page.png"), full_page=True)
    page.close()
    assert not problems, problems


def test_live_page_with_preview_and_a_token_shows_the_camera_image(
    posed_faces_video, daemon_factory, serve_daemon, browser
):
    token = "live-page-token"
    served = serve_daemon(daemon_factory, posed_camera(posed_faces_video), preview=True,
                          env={"EMOTION_EDGE_WS_TOKEN": token})
    problems: list[str] = []
    page = open_live_page(browser, f"{served.http}/live?token={token}", problems)
    # A preview (two a second) under the box: a photograph, not a blank frame, with the box.
    canvas = canvas_showing(page, distinct=2001, background=0.2, box=301)
    assert canvas["distinct"] > 2000 and canvas["happy"] + canvas["surprise"] > 300, canvas
    assert "Camera previews on" in page.inner_text("#footer")
    assert wait_until(lambda: served.status()["previews_sent"] >= 2, timeout=15)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "live_page_preview.png"), full_page=True)
    page.close()
    assert not problems, problems


ZONE_RGB = {"include": (0, 200, 83), "exclude": (255, 0, 0)}  # live.js's zone outlines


def test_live_page_draws_the_camera_s_zones(
    posed_faces_video, daemon_factory, serve_daemon, browser
):
    cameras = posed_camera(posed_faces_video)
    cameras["posed"]["zones"] = {
        "include": {"room": [[0.02, 0.02], [0.98, 0.02], [0.98, 0.98], [0.02, 0.98]]},
        "exclude": {"poster": [[0.05, 0.05], [0.25, 0.05], [0.25, 0.3], [0.05, 0.3]]},
    }
    served = serve_daemon(daemon_factory, cameras)
    problems: list[str] = []
    page = open_live_page(browser, f"{served.http}/live", problems)
    script = f"""() => {{
      const c = ({READ_CANVAS})(["posed", [0, 0, 0], {{
        include: {list(ZONE_RGB["include"])}, exclude: {list(ZONE_RGB["exclude"])} }}]);
      return c.include > 200 && c.exclude > 100 ? c : null;
    }}"""
    counts = page.wait_for_function(script, timeout=30_000, polling=200).json_value()
    assert counts["include"] > 200 and counts["exclude"] > 100, counts
    page.close()
    assert not problems, problems
