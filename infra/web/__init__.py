"""The HTTP side: the JSON API with roles, and the server-rendered pages for donors, the public and auditors."""
