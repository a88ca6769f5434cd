"""The one CSV/TSV reader: `FILE:LINE: message` errors, dialects, columns, paths and splits."""
import pytest

from datasets import manifests


def write(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize("content, message", [
    ("path,label\na.png,x\nmissing.png,y\n", r"m\.csv:3: no such file missing\.png"),
    ("path,label\na.png,x\n,y\n", r"m\.csv:3: empty path"),
    ("path,label\na.png,\n", r"m\.csv:2: empty label"),
    ("path,label\na.png,x,extra\n", r"m\.csv:2: 3 fields, the header has 2"),
    ("path,label,split\na.png,x,train\na.png,y,training\n", r"m\.csv:3: split 'training' is not one of"),
    ("path,label,split\na.png,x,train\na.png,y,\n", r"m\.csv:3: empty split"),
    ("path,label\na.txt,x\n", r"m\.csv:2: a\.txt is not a supported file \(expected \.png\)"),
    ("file,word\na.png,x\n", r"m\.csv: no column 'path' \(columns: file, word\)"),
    ("path,label\n", r"m\.csv: no rows after the header"),
    ('path,label\n"a.png,x\n', r"m\.csv:2: .*"),
])
def test_errors_name_the_file_and_line(tmp_path, content, message):
    (tmp_path / "a.png").write_bytes(b"x")
    (tmp_path / "a.txt").write_bytes(b"x")
    with pytest.raises(ValueError, match=message) as error:
        manifests.read_file_manifest(write(tmp_path / "m.csv", content), extensions=(".png",))
    assert "\n" not in str(error.value)


def test_lines_are_lines_of_the_file(tmp_path):
    table = write(tmp_path / "t.csv", 'text,label\n"two\nlines",a\n\nlast,\n')
    records = manifests.read_records(table, ["text", "label"])
    assert [line for line, _ in records] == [2, 5]  # a quoted row by its first line; blank skipped
    assert records[0][1]["text"] == "two\nlines"
    table.write_bytes(b"text,label\nok,a\ncaf\xe9,b\n")
    with pytest.raises(ValueError, match=r"t\.csv:3: not UTF-8 text \(byte 0xe9"):
        manifests.read_records(table, ["text", "label"])


def test_dialects_and_column_aliases(tmp_path):
    tsv = write(tmp_path / "t.tsv", 'Sentence\tlabel\nsays "hi\t1\n')
    assert manifests.read_records(tsv, [("text", "sentence"), "label"]) == [
        (2, {"text": 'says "hi', "label": "1"})]
    semicolons = write(tmp_path / "s.csv", 'text;label\n"a; b";1\n')
    assert manifests.read_records(semicolons, ["text", "label"], delimiter=";")[0][1]["text"] == "a; b"
    with pytest.raises(ValueError, match=r"s\.csv:2: .* \(hint\)$"):  # read with commas
        manifests.read_records(semicolons, ["text", "label"], hint=" (hint)")


def test_file_manifest_paths_splits_and_optional_header(tmp_path):
    (tmp_path / "img").mkdir()
    for name in ("a.png", "b.png"):
        (tmp_path / "img" / name).write_bytes(b"x")
    table = write(tmp_path / "m.csv", "img/a.png,cat,train\nimg/b.png,dog,Validation\n")
    named = manifests.read_file_manifest(table, header_optional=True)
    assert named == {"train": ([str(tmp_path / "img" / "a.png")], ["cat"], f"{table} (train)"),
                     "val": ([str(tmp_path / "img" / "b.png")], ["dog"], f"{table} (val)")}
    write(table, "img/a.png,cat\nimg/b.png\n")
    with pytest.raises(ValueError, match=r"m\.csv:2: 1 fields, expected path,label\[,split\]"):
        manifests.read_file_manifest(table, header_optional=True)
    write(table, "path,label\nimg/a.png,cat\n")
    assert list(manifests.read_file_manifest(table)) == ["all"]


def test_column_aliases_hints_and_the_callers_error_class(tmp_path):
    (tmp_path / "a.png").write_bytes(b"x")
    table = write(tmp_path / "m.csv", "Image,Class\na.png,cat\n")
    assert manifests.read_file_manifest(table, ("file", "image"), ("class",)) == {
        "all": ([str(tmp_path / "a.png")], ["cat"], str(table))}

    class TableError(Exception):
        pass

    with pytest.raises(TableError, match=r"^\S*m\.csv: no column 'path' \(columns: Image, Class\); see --help$"):
        manifests.read_file_manifest(table, error=TableError, column_hint="; see --help")
    with pytest.raises(ValueError, match=r"^\S*m\.csv: no column 'path' \(columns: Image, Class\)$"):
        manifests.read_file_manifest(table)
    with pytest.raises(TableError, match=r"^\S*m\.csv:2: a\.png is not a supported file \(expected \.jpg, \.wav\)$"):
        manifests.read_file_manifest(table, "image", "class", extensions=(".jpg", ".wav"), error=TableError)


def test_split_names_of_records_without_a_split_column_are_empty(tmp_path):
    records = [(2, {"path": "a.png"}), (3, {"path": "b.png", "split": " "})]
    assert manifests.split_names(tmp_path / "m.csv", records) == ["", ""]
    records = [(2, {"split": "Valid"}), (3, {"split": "TEST"}), (4, {"split": "train"})]
    assert manifests.split_names(tmp_path / "m.csv", records) == ["val", "test", "train"]
    with pytest.raises(ValueError, match=r"m\.csv:3: split 'dev' is not one of train, val, test$"):
        manifests.split_names(tmp_path / "m.csv", [(2, {"split": "val"}), (3, {"split": "dev"})])


def test_an_exact_column_name_wins_over_one_differing_in_case(tmp_path):
    table = write(tmp_path / "t.csv", "Text,text,label\nupper,lower,1\n")
    assert manifests.read_records(table, ["text", "label"]) == [(2, {"text": "lower", "label": "1"})]


def test_the_dialect_follows_the_suffix_unless_given():
    assert manifests.dialect("t.tsv") == ("\t", "none")
    assert manifests.dialect("T.TSV") == ("\t", "none")
    assert manifests.dialect("t.csv") == (",", "minimal")
    assert manifests.dialect("t.csv", "tab") == manifests.dialect("t.csv", "\\t") == ("\t", "minimal")
    assert manifests.dialect("t.tsv", ";", "minimal") == (";", "minimal")
    with pytest.raises(ValueError, match=r"^quoting 'all': expected auto, none or minimal$"):
        manifests.dialect("t.csv", quoting="all")


def test_a_bad_split_is_raised_as_the_callers_error(tmp_path):
    (tmp_path / "a.png").write_bytes(b"x")
    table = write(tmp_path / "m.csv", "path,label,split\na.png,x,dev\n")

    class TableError(Exception):
        pass

    with pytest.raises(TableError, match=r"m\.csv:2: split 'dev' is not one of"):
        manifests.read_file_manifest(table, error=TableError)


def test_read_rows_numbers_lines_from_the_header_and_keeps_quoted_line_breaks(tmp_path):
    table = tmp_path / "t.csv"
    table.write_bytes(b'text,label\r\n"a\r\nb",1\r\n\r\nc,2\r\n')
    assert manifests.read_rows(table) == [(1, ["text", "label"]), (2, ["a\r\nb", "1"]), (5, ["c", "2"])]
    table.write_bytes(b'"te"xt",label\n')
    with pytest.raises(ValueError, match=r"^\S*t\.csv:1: .*'.*' expected after '\"'$"):
        manifests.read_rows(table)


def test_a_tsv_keeps_its_quotes_unless_quoting_is_asked(tmp_path):
    table = write(tmp_path / "t.tsv", 'text\tlabel\n"hi\tthere"\t1\n')
    assert manifests.read_rows(table)[1] == (2, ['"hi', 'there"', "1"])
    assert manifests.read_rows(table, quoting="minimal")[1] == (2, ["hi\tthere", "1"])
    assert manifests.read_rows(table, ",")[1] == (2, ['"hi\tthere"\t1'])


def test_a_missing_or_unreadable_table_is_one_line_in_the_callers_error(tmp_path):
    class TableError(Exception):
        pass

    with pytest.raises(TableError, match=r"^\S*gone\.csv: no such file$"):
        manifests.read_rows(tmp_path / "gone.csv", error=TableError)
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(TableError, match=r"^\S*folder\.csv: cannot read \(Is a directory\)$"):
        manifests.read_rows(tmp_path / "folder.csv", error=TableError)
    (tmp_path / "latin.csv").write_bytes(b"text,label\ncaf\xe9,1\n")
    with pytest.raises(TableError, match=r"latin\.csv:2: not UTF-8 text"):
        manifests.read_records(tmp_path / "latin.csv", ["text", "label"], error=TableError)


def test_read_records_needs_its_header_by_default_and_ends_errors_with_no_hint(tmp_path):
    table = write(tmp_path / "t.csv", "hello,1\nworld,0\n")
    with pytest.raises(ValueError, match=r"^\S*t\.csv: no column 'text' \(columns: hello, 1\)$"):
        manifests.read_records(table, ["text", "label"])
    write(table, "text,label\nhello,1,extra\n")
    with pytest.raises(ValueError, match=r"^\S*t\.csv:2: 3 fields, the header has 2$"):
        manifests.read_records(table, ["text", "label"])
    write(table, "text,fold\nhello,2\n")
    assert manifests.read_records(table, ["text"], [("split", "fold"), "label"]) == [
        (2, {"text": "hello", "split": "2", "label": ""})]


def test_empty_tables_and_missing_columns_say_what_was_expected(tmp_path):
    table = write(tmp_path / "t.csv", "")
    with pytest.raises(ValueError, match=r"^\S*t\.csv: empty file \(expected a header row\)$"):
        manifests.read_records(table, ["text"])
    with pytest.raises(ValueError, match=r"^\S*t\.csv: no rows$"):
        manifests.read_records(table, ["text"], header_optional=True)
    write(table, '""\nx\n')
    with pytest.raises(ValueError, match=r"^\S*t\.csv: no column 'text' or 'sentence' \(columns: none\)$"):
        manifests.read_records(table, [("text", "sentence")])
    write(table, "a\n")
    with pytest.raises(ValueError, match=r"^\S*t\.csv:1: 1 fields, expected path,label\[,split,fold\]$"):
        manifests.read_records(table, ["path", "label"], ["split", "fold"], header_optional=True)
