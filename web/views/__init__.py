"""One module per area of the site; web/urls.py maps paths to them."""
