"""WARC writing and reading, the CDXJ index and the pywb collection layout.

The public surface is listed in `__all__`; `archive.web` and the replay/WACZ modules are
imported on their own.
"""

from archive.cdxj import INDEX_NAME, CdxjLine, append_index, index_lines, parse_line, read_index
from archive.collection import Collection
from archive.records import (
    SHA256_HEADER,
    TEXT_URI_PREFIX,
    HttpExchange,
    RecordFactory,
    new_record_id,
    serialize_record,
    text_uri,
    utc_now,
    warc_date,
)
from archive.warc_reader import (
    ArchivedRecord,
    DecodedTooLarge,
    FileCheck,
    RecordCheck,
    check_file,
    read_record,
)
from archive.warc_writer import (
    RecoveryReport,
    WarcBatch,
    WarcWriter,
    WrittenRecord,
    recover_open_files,
)

__all__ = [
    "INDEX_NAME",
    "SHA256_HEADER",
    "TEXT_URI_PREFIX",
    "ArchivedRecord",
    "CdxjLine",
    "Collection",
    "DecodedTooLarge",
    "FileCheck",
    "HttpExchange",
    "RecordCheck",
    "RecordFactory",
    "RecoveryReport",
    "WarcBatch",
    "WarcWriter",
    "WrittenRecord",
    "append_index",
    "check_file",
    "index_lines",
    "new_record_id",
    "parse_line",
    "read_index",
    "read_record",
    "recover_open_files",
    "serialize_record",
    "text_uri",
    "utc_now",
    "warc_date",
]
