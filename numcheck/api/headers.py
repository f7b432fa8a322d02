"""Response headers shared by routes."""

# On responses that carry customers' numbers or secrets: never kept by a cache on the way,
# never sniffed into another type by a browser.
PRIVATE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
