"""Headless Chromium on the Prefect UI, as an operator uses it (the browser tier).

Debian's ``chromium`` and its ``chromedriver`` (``apt-get install chromium chromium-driver``):
Selenium is pointed at both, so nothing is downloaded at run time. Every page opened is saved as a
screenshot under the folder the test names.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Tall enough that a run's log list and an artifact's table render without scrolling.
WINDOW = (1400, 2400)
#: A page (a Vue app fetching from the API) shows its content within this many seconds.
PAGE_WAIT_S = 45.0


def browser_missing() -> str | None:
    """Why the browser cannot be driven here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if shutil.which(path) is None:
            return f"{path} missing: apt-get install chromium chromium-driver"
    return None


@contextmanager
def chromium() -> Iterator[object]:
    """A headless Chromium WebDriver, quit afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


@dataclass
class PrefectUI:
    """The Prefect UI at ``base`` (``http://host:port``) in ``driver``; screenshots into
    ``shots``."""

    driver: object
    base: str
    shots: Path

    def open(self, path: str, shot: str, *expected: str, any_of: Sequence[str] = ()) -> str:
        """Open ``path``, wait until the page's text holds every ``expected`` string and, when
        ``any_of`` is given, one of those (an AssertionError naming what is missing and the page
        otherwise), save the screenshot ``<shot>.png`` and return the page's text."""
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        def shown(page: str) -> bool:
            return all(text in page for text in expected) and (
                not any_of or any(text in page for text in any_of)
            )

        self.driver.get(self.base + path)
        try:
            WebDriverWait(self.driver, PAGE_WAIT_S, poll_frequency=0.5).until(
                lambda _driver: shown(self.text())
            )
        except TimeoutException:
            self.shoot(shot)
            page = self.text()
            missing = [text for text in expected if text not in page]
            if any_of and not any(text in page for text in any_of):
                missing.append(f"one of {list(any_of)}")
            raise AssertionError(
                f"{path}: {missing} not shown; the page shows:\n{page[:3000]}"
            ) from None
        self.shoot(shot)
        return self.text()

    def text(self) -> str:
        """The page's visible text."""
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.TAG_NAME, "body").text

    def shoot(self, name: str) -> Path:
        """Save the page as ``<name>.png``."""
        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def images(self) -> list[object]:
        """The page's ``<img>`` elements."""
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.TAG_NAME, "img")


def image_rendered(driver: object, image: object) -> tuple[int, int, float]:
    """An ``<img>`` as the browser drew it: its natural width and height (0 when it did not
    load) and the standard deviation of the pixels on screen (0 for a blank picture)."""
    import numpy as np
    from PIL import Image as PILImage

    width, height = driver.execute_script(
        "return arguments[0].complete ? [arguments[0].naturalWidth, arguments[0].naturalHeight]"
        " : [0, 0]",
        image,
    )
    if not width:
        return 0, 0, 0.0
    drawn = PILImage.open(io.BytesIO(image.screenshot_as_png)).convert("L")
    return int(width), int(height), float(np.asarray(drawn, dtype=float).std())
