"""The operations console: server-rendered pages (Jinja2) under /console, and the read models behind them."""
