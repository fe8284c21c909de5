"""The partner's package list as the BFF keeps it: rows already serialised in Redis, ordered
by (created time, id), refreshed from the upstream at most once per ``BFF_LIST_REFRESH_S``
by whichever process needs it first, and changed at once by the BFF's own writes."""
