"""Accounts and rights: who may sign in, and what each person may do.

Exception tree (all in `pa_server.auth.errors`)::

    AuthError                 base of everything raised here
    ├── BadCredentials        unknown user, wrong password, bad or revoked API token
    ├── NotSignedIn           no session cookie and no bearer token on a protected route
    ├── RateLimited           too many failed sign-ins for one username + address (retry_after_s)
    ├── BadCsrf               a form posted without its CSRF token, or with someone else's
    ├── Forbidden             signed in, but the rights do not allow it (code + Vietnamese message)
    ├── AccountError          a user or token change refused (duplicate name, bad role, …; field)
    └── BadText               a posted form field holds a control character (NUL, …; field)

The pure parts (`rights`, `ratelimit`, `passwords`, `sessions`, `tokens`) never touch the
database or FastAPI; `pa_server.auth.deps` wires them into the HTTP app.
"""
