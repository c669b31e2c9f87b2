"""Static files as nginx serves them: hashed names (so they can be cached for a year) and
precompressed copies (.gz, and .br with the `brotli` package), written by collectstatic.

WhiteNoise's storage does the hashing (Django's ManifestStaticFilesStorage) and the compression;
only collectstatic and page rendering use it (nginx serves the files, WhiteNoise serves none).
The pages are ES modules: `import ... from './x.js';` lines are rewritten to the hashed names too
(Django's support_js_module_import_aggregation), so a module never loads a stale dependency.
"""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class HashedCompressedStorage(CompressedManifestStaticFilesStorage):
    support_js_module_import_aggregation = True
