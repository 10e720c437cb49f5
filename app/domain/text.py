"""Marking sentences for translation while keeping the domain pure: `N_` only marks a string
for the catalogs (app/web/catalogs.py); the web layer translates it where it is shown."""


def N_(message: str) -> str:
    return message
