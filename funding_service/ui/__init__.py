"""The funding dashboard: ``/ui/`` (and ``/`` for a browser) when ``PERPDEX_FS_UI_ENABLED`` is true (the default).

Server-rendered HTML, no build step and no CDN: :mod:`.routes` (the page and its static files) asks :mod:`.data` for
three things and :mod:`.render` turns them into HTML with every value escaped:

- the opportunities table: the answer of the API's own ``/api/v1/opportunities`` handler for the same query
  parameters (so a dashboard URL and the API URL with the same query show the same rows), sortable by the column
  links, filtered by a GET form: every view is a bookmarkable URL and the table is complete without JavaScript;
- a per-symbol chart of funding history across venues: hourly buckets of each venue's hourly rate, annualised
  (APR = hourly x 8760, the API's ``/history/funding-rates/{dex}/{symbol}?bucket=1h``), drawn by uPlot (vendored,
  ``static/vendor/README.md``) and also given as a table for screen readers and browsers without JavaScript;
- venue health: each dex's collection health as ``/health`` reports it.

Off (``PERPDEX_FS_UI_ENABLED=false``) for API-only installs: no ``/ui`` routes, ``/`` stays the JSON service info.
"""
