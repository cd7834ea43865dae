"""The back-office kit: what every app's admin pages share, and the site itself.

- `site`: the product's name on every page, and `moment()`, the one date-time text;
- `evidence`: `ReadOnlyAdmin` and `EvidenceMixin` for received data;
- `display`: badges, JSON blocks, links;
- `filters`: text-box and date-range list filters that refuse what they cannot read;
- `paging`: bounded counts for lists that grow by millions.

It imports only Django and `mes`, so `execution` and `integration` admins both use it.
"""
