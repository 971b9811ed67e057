"""Reading REDCap's CSV: any header spelling, BOM, CRLF, quoted newlines; hostile input refused with file:line."""

import pytest

from ecrf.odm_import.reader import ImportError_
from ecrf.redcap.dictionary import MAX_FIELD, read_dictionary

HEADER = ('"Variable / Field Name","Form Name","Section Header","Field Type","Field Label",'
          '"Choices, Calculations, OR Slider Labels","Field Note","Text Validation Type OR Show Slider Number",'
          '"Text Validation Min","Text Validation Max",Identifier?,"Branching Logic (Show field only if...)",'
          '"Required Field?","Custom Alignment","Question Number (surveys only)","Matrix Group Name",'
          '"Matrix Ranking?","Field Annotation"')


def write(tmp_path, text: str | bytes, name: str = "dd.csv"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_bom_crlf_and_a_label_spanning_lines_keep_each_row_on_the_line_it_starts(tmp_path):
    text = ("\ufeff" + HEADER + "\r\nrecord_id,f,,text,ID\r\n"
            'age,f,,text,"Age\r\nin years",,,integer,0,120\r\nsex,f,,radio,Sex,"1, M | 2, F"\r\n')
    fields = read_dictionary(write(tmp_path, text)).fields
    assert [(f.name, f.line) for f in fields] == [("record_id", 2), ("age", 3), ("sex", 5)]
    assert fields[1].label == "Age\r\nin years" and fields[1].validation == "integer" and fields[1].maximum == "120"


def test_the_api_header_spelling_is_read_like_the_download_one(tmp_path):
    text = ("field_name,form_name,section_header,field_type,field_label,select_choices_or_calculations,field_note,"
            "text_validation_type_or_show_slider_number,text_validation_min,text_validation_max,identifier,"
            "branching_logic,required_field,custom_alignment,question_number,matrix_group_name,matrix_ranking,"
            "field_annotation\nrecord_id,f,,text,ID,,,,,,,,,,,,,\nsex,f,,radio,Sex,\"1, M\",,,,,y,[a] = '1',y,,,,,\n")
    sex = read_dictionary(write(tmp_path, text)).fields[1]
    assert (sex.choices, sex.identifier, sex.branching, sex.required) == ("1, M", "y", "[a] = '1'", "y")


def test_a_formula_in_a_label_is_kept_as_text(tmp_path):
    text = HEADER + '\nrecord_id,f,,text,"=HYPERLINK(""http://x"",""ID"")"\n'
    fields = read_dictionary(write(tmp_path, text)).fields
    assert fields[0].label == '=HYPERLINK("http://x","ID")'


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "name,form\nx,y\n",
            "dd.csv:1: not a REDCap data dictionary: the header has no column "
            "'Variable / Field Name', 'Form Name', 'Field Type', 'Field Label'",
        ),
        ("", "dd.csv:1: empty: a data dictionary needs a header row"),
        (HEADER + "\n", "dd.csv:2: the data dictionary defines no field"),
        (
            HEADER + "\nrecord_id,f,,text,ID\nRecord,f,,text,X\n",
            "dd.csv:3: field name 'Record' is not a REDCap variable",
        ),
        (
            HEADER + "\nrecord_id,f,,text,ID\n=cmd|' /C calc'!A0,f,,text,X\n",
            "dd.csv:3: field name \"=cmd|' /C calc'!A0\"",
        ),
        (
            HEADER + "\nrecord_id,f,,text,ID\nrecord_id,f,,text,X\n",
            "dd.csv:3: field 'record_id' is defined twice (also line 2)",
        ),
        (HEADER + "\nrecord_id,My Form,,text,ID\n", "dd.csv:2: field 'record_id' has form name 'My Form'"),
        (HEADER + "\nrecord_id,f,,,ID\n", "dd.csv:2: field 'record_id' has no field type"),
        (HEADER + '\nrecord_id,f,,text,"ID\nnever closed\n', "dd.csv:2: not valid CSV"),
        (HEADER + '\nrecord_id,f,,text,"ID"x\n', "dd.csv:2: not valid CSV"),
    ],
)
def test_wrong_or_inconsistent_input_is_refused_with_file_and_line(tmp_path, text, message):
    with pytest.raises(ImportError_) as refused:
        read_dictionary(write(tmp_path, text))
    assert str(refused.value).startswith(str(tmp_path / message.split(":")[0]) + ":" + message.split(":", 1)[1])


def test_a_huge_field_is_refused_with_its_line_not_read_whole(tmp_path):
    text = HEADER + "\nrecord_id,f,,text,ID\nnotes,f,,notes," + "x" * (MAX_FIELD + 1) + "\n"
    with pytest.raises(ImportError_, match=r"dd.csv:3: not valid CSV: field larger than field limit"):
        read_dictionary(write(tmp_path, text))


@pytest.mark.parametrize(
    "raw, message",
    [
        ((HEADER + "\nrecord_id,f,,text,Caf\xe9\n").encode("latin-1"), r"dd.csv:2: not UTF-8 \(byte 0xe9\)"),
        ((HEADER + "\nrecord_id,f,,text,I\x00D\n").encode(), r"dd.csv:2: NUL byte"),
    ],
)
def test_bytes_that_are_not_utf8_text_are_refused_with_their_line(tmp_path, raw, message):
    with pytest.raises(ImportError_, match=message):
        read_dictionary(write(tmp_path, raw))


def test_a_missing_file_is_refused_without_a_traceback(tmp_path):
    with pytest.raises(ImportError_, match="not readable"):
        read_dictionary(tmp_path / "absent.csv")


def test_columns_that_are_not_redcaps_are_read_past_and_named(tmp_path):
    text = "Form Name,Variable / Field Name,Reviewer,Field Type,Field Label,\nf,record_id,ann,text,ID,extra\n"
    dictionary = read_dictionary(write(tmp_path, text))
    assert [(f.name, f.form) for f in dictionary.fields] == [("record_id", "f")]  # columns found by name
    assert dictionary.ignored_columns == ["Reviewer", "column 6"]
