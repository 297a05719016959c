"""twostepctl: the admin command line of twostep, a plain HTTP client of the service's admin routes.

It imports nothing from the function app (shared/, functions/): it speaks only the documented API, so it
works against any deployment of any layout, and the app's packages can move without breaking it.
"""
