"""The pages (PAGES.md): server-rendered Jinja2 over the same services as the API. No business rule lives
in a template: a route reads through the services and hands the template what to show.

`rendering.py` renders a template in a language with the page headers; `languages.py` picks the
language; `customer.py` holds the customer's pages (enrolment, card, lost card link).
"""
