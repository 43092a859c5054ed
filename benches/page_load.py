#!/usr/bin/env python3
"""Page weight and time to first render of the stories page, in headless Chromium.

Opens the page of a running `neardup serve` several times with an empty cache and
reads the browser's Performance API: bytes transferred for the first view (the page,
its script and style, and the first page of stories from /v1/stories), the time until
the list of stories is drawn (the page's `stories-rendered` mark, from the start of
navigation), and the time the /v1/stories call took. Prints one JSON object with the
median of the runs and every run.

    python3 benches/page_load.py --url http://127.0.0.1:50051/ [--token-file F] [--runs 5]

Needs `pip install selenium` and Debian's chromium and chromium-driver. BENCHMARKS.md
has the command that loads 100,000 stories first.
"""

import argparse
import json
import shutil
import statistics
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

MEASURE = """
const nav = performance.getEntriesByType('navigation')[0];
const resources = performance.getEntriesByType('resource');
const stories = resources.filter(r => r.name.includes('/v1/stories'));
const mark = performance.getEntriesByName('stories-rendered')[0];
return {
  bytes: nav.transferSize + resources.reduce((sum, r) => sum + r.transferSize, 0),
  page_bytes: nav.transferSize,
  resources: resources.map(r => [new URL(r.name).pathname, r.transferSize]),
  first_render_ms: mark ? mark.startTime : null,
  stories_call_ms: stories.length ? stories[0].duration : null,
  rows: document.querySelectorAll('tr.story').length,
  matched: document.getElementById('count').textContent,
};
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--token-file")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    driver_path = shutil.which("chromedriver")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not driver_path or not browser:
        sys.exit("chromium and chromedriver are needed (apt-get install chromium chromium-driver)")
    token = open(args.token_file).readline().strip() if args.token_file else ""
    runs = []
    for _ in range(args.runs):
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,1000"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
        try:
            if token:
                # The page reads its token from the tab's session storage.
                driver.get(args.url + "v1/openapi.json")
                driver.execute_script("sessionStorage.setItem('neardup-token', arguments[0])", token)
            driver.get(args.url)
            WebDriverWait(driver, 60).until(
                lambda d: d.execute_script("return performance.getEntriesByName('stories-rendered').length"))
            WebDriverWait(driver, 5).until(lambda d: d.find_elements(By.CSS_SELECTOR, "tr.story"))
            runs.append(driver.execute_script(MEASURE))
        finally:
            driver.quit()
    median = lambda key: statistics.median(r[key] for r in runs)
    print(json.dumps({
        "runs": len(runs),
        "first_view_bytes": median("bytes"),
        "first_render_ms": median("first_render_ms"),
        "stories_call_ms": median("stories_call_ms"),
        "rows": runs[0]["rows"],
        "matched": runs[0]["matched"],
        "resources": runs[0]["resources"],
        "every_run": [{k: r[k] for k in ("bytes", "first_render_ms", "stories_call_ms")} for r in runs],
    }, indent=1))


if __name__ == "__main__":
    main()
