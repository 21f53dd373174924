"""The style sheet and script that ``report/html.py`` writes inline into every report.html."""
