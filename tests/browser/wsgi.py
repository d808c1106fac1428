"""The site as the web server serves it in the browser tests, plus its static files (the CSS matters to the
accessibility scan: contrast and layout are checked on the styled page). Production serves static
files from STATIC_ROOT behind the web server instead.

Its URLs are the site's plus one view that fails on purpose (tests/error_urls.py), so the browser
tests see the 500 page the real handler serves."""

import django
from django.conf import settings

django.setup(set_prefix=False)
settings.ROOT_URLCONF = "tests.error_urls"

from django.contrib.staticfiles.handlers import StaticFilesHandler  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

application = StaticFilesHandler(get_wsgi_application())
