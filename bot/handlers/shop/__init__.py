"""The shop's order webhooks: Shopify, WooCommerce and a generic signed JSON form.

Each platform module checks nothing and stores nothing: it turns one delivery's JSON into an
`OrderUpdate` (or says why it is ignored, or why it is malformed). `routes` does the HTTP side:
size, signature, then translation, then the durable inbox, then the answer.
"""
