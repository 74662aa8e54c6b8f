"""Assistant packs: intents and exemplars, fast-path handlers, tools, prompts and seed data."""
