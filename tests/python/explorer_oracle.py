"""Open a Patch Explorer page in real headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium) and report what a reader sees.

    explorer_oracle.py URL SCREENSHOT.png [BEARER-TOKEN]

Prints one JSON object: the page's visible text, whether the first diff is
visible before and after clicking its summary, and every URL the browser
requested (from Chromium's performance log: Network.requestWillBeSent).
"""

import json
import sys
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By


def main():
    url, shot = sys.argv[1], sys.argv[2]
    token = sys.argv[3] if len(sys.argv) > 3 else None
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    profile = tempfile.mkdtemp(prefix="rootwasm-chromium-")
    for flag in [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1200,1600",
        f"--user-data-dir={profile}",
    ]:
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    # The system chromedriver: Selenium Manager must not download anything.
    driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=opts)
    try:
        if token:
            # The served page is behind a bearer token: send it with every request (CDP).
            driver.execute_cdp_cmd("Network.enable", {})
            driver.execute_cdp_cmd(
                "Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Bearer {token}"}}
            )
        driver.get(url)
        body = driver.find_element(By.TAG_NAME, "body").text
        details = driver.find_element(By.CSS_SELECTOR, "details.diff")
        pre = details.find_element(By.CSS_SELECTOR, "pre.diff")
        before = pre.is_displayed()
        details.find_element(By.TAG_NAME, "summary").click()
        after = pre.is_displayed()
        diff_text = pre.text
        driver.save_screenshot(shot)
        requests = []
        for entry in driver.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            if msg.get("method") == "Network.requestWillBeSent":
                requests.append(msg["params"]["request"]["url"])
        print(json.dumps({
            "text": body,
            "diff_visible_before": before,
            "diff_visible_after_click": after,
            "diff_text": diff_text,
            "requests": requests,
            "title": driver.title,
        }))
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
