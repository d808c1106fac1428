"""The site as gunicorn serves it in the browser tests, plus its static files (the CSS matters to the
accessibility scan: contrast and layout are checked on the styled page). Production serves static
files from STATIC_ROOT behind the web server instead."""

from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.wsgi import get_wsgi_application

application = StaticFilesHandler(get_wsgi_application())
