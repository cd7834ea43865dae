"""CSV and XLSX as the back office reads and writes master-data tables
(execution/admin/master_data_tables.py; docs/master-data.md "In the back office").

django-import-export's own formats read through tablib, which drops a CSV's blank lines
(so row numbers drift from the file's), reads a workbook's active sheet rather than its
first, turns merged cells into blanks, and writes a text starting with "=" as a live
formula. These keep every row where the file has it, read the first sheet, refuse what
would be read wrong, and write text as text.
"""

import csv
import io

import openpyxl
import tablib
from import_export.formats.base_formats import CSV, XLSX
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from execution.master_data.tables import neutralised, padded


class TableUnreadable(ValueError):
    """A file that is not a table this page can read, said in words."""


class TableCSV(CSV):
    def create_dataset(self, in_stream, **kwargs):
        if isinstance(in_stream, bytes):
            try:
                in_stream = in_stream.decode("utf-8-sig")
            except UnicodeDecodeError as error:
                raise TableUnreadable(f"not UTF-8 text ({error}).") from None
        try:
            # A blank line is kept as an empty row: row N is the file's row N.
            records = list(csv.reader(io.StringIO(in_stream)))
        except csv.Error as error:
            raise TableUnreadable(f"not CSV ({error}).") from None
        return _dataset(records)

    def export_data(self, dataset, **kwargs):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(dataset.headers)
        for row in dataset:
            writer.writerow([neutralised(cell) for cell in row])
        return out.getvalue()


class TableXLSX(XLSX):
    def create_dataset(self, in_stream):
        try:
            book = openpyxl.load_workbook(io.BytesIO(in_stream), data_only=True)
            formulas = openpyxl.load_workbook(io.BytesIO(in_stream), data_only=False)
        except Exception as error:  # openpyxl raises many kinds for a file that is not XLSX
            raise TableUnreadable(f"not an XLSX workbook ({type(error).__name__}).") from None
        sheet, formula_sheet = book.worksheets[0], formulas.worksheets[0]
        if sheet.merged_cells.ranges:
            merged = ", ".join(str(cells) for cells in list(sheet.merged_cells.ranges)[:3])
            raise TableUnreadable(
                f"sheet {sheet.title!r} has merged cells ({merged}): unmerge them, one value "
                "per cell."
            )
        records = []
        for row, formula_row in zip(
            sheet.iter_rows(values_only=True),
            formula_sheet.iter_rows(values_only=True),
            strict=True,
        ):
            for value, formula in zip(row, formula_row, strict=True):
                if value is None and isinstance(formula, str) and formula.startswith("="):
                    raise TableUnreadable(
                        f"sheet {sheet.title!r} row {len(records) + 1} has a formula with no "
                        "saved value: open and save the file in a spreadsheet program, or "
                        "paste values."
                    )
            records.append(list(row))
        return _dataset(records)

    def export_data(self, dataset, **kwargs):
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.title = "table"
        sheet.append(dataset.headers)
        for row in dataset:
            sheet.append([_clean(cell) for cell in row])
        for cells in sheet.iter_rows(min_row=2):
            for cell in cells:
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    cell.data_type = "s"  # text that looks like a formula stays text
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()


def _clean(cell):
    # Control characters a workbook cannot hold (they came in by the API): shown as �.
    return (
        ILLEGAL_CHARACTERS_RE.sub("\N{REPLACEMENT CHARACTER}", cell)
        if isinstance(cell, str)
        else cell
    )


def _dataset(records: list[list]) -> tablib.Dataset:
    if not records:
        raise TableUnreadable("the file is empty: the first row names the columns.")
    headers, rows = padded(records)
    dataset = tablib.Dataset(headers=headers)
    for row in rows:
        dataset.append(row)
    return dataset
