"""Reading an ODM file safely: a hardened parser and ``file:line: message`` faults.

The parser never expands entities, never loads a DTD or anything over the
network and refuses huge trees, so a hostile file (billion laughs, external
entities) is refused instead of exhausting memory or leaking local files.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

ODM13 = "http://www.cdisc.org/ns/odm/v1.3"
ODM20 = "http://www.cdisc.org/ns/odm/v2.0"
OPENCLINICA = "http://www.openclinica.org/ns/odm_ext_v130/v3.1"
NS = {"odm": ODM13, "oc": OPENCLINICA}


class ImportError_(ValueError):
    """The file is not ODM metadata this importer understands; the message is ``file:line: message``."""


def fault(path: str | Path, element, message: str) -> ImportError_:
    """An :class:`ImportError_` pointing at ``element``'s source line (or the file when there is none)."""
    line = getattr(element, "sourceline", None)
    return ImportError_(f"{path}:{line}: {message}" if line else f"{path}: {message}")


def parser() -> etree.XMLParser:
    """An lxml parser that expands no entity, reads no DTD and touches no network."""
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False,
                           dtd_validation=False, remove_comments=True, remove_pis=True)


def read_odm(path: str | Path):
    """The root ``ODM`` element of an ODM 1.3.x file, or :class:`ImportError_` saying what is wrong where.

    Refuses documents declaring entities or naming an external DTD (the shape of billion-laughs and
    external-entity attacks), ODM 2.0
    (named as such), and anything that is not an ODM 1.3 document.
    """
    try:
        tree = etree.parse(str(path), parser())
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or (exc.position[0] if getattr(exc, "position", None) else None)
        raise ImportError_(f"{path}:{line or 1}: not well-formed XML: {exc.msg}") from None
    except OSError as exc:
        raise ImportError_(f"{path}: not readable: {exc}") from None
    if tree.docinfo.system_url or tree.docinfo.public_id:
        raise ImportError_(
            f"{path}:1: the document refers to an external DTD ({tree.docinfo.system_url or tree.docinfo.public_id}); "
            "refused: ODM needs none, it is never loaded, and its entities would stay unknown"
        )
    dtd = tree.docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise ImportError_(
            f"{path}:1: the document declares entities (DOCTYPE); refused: ODM needs none "
            "and entity expansion is how hostile XML attacks"
        )
    if any(node.tag is etree.Entity for node in tree.iter()):
        raise ImportError_(f"{path}:1: the document uses undeclared entities; refused")
    root = tree.getroot()
    namespace = etree.QName(root).namespace
    if namespace == ODM20 or (root.get("ODMVersion") or "").startswith("2"):
        raise fault(path, root, "ODM 2.0 is not supported; export ODM 1.3.2")
    if namespace != ODM13 or etree.QName(root).localname != "ODM":
        raise fault(path, root, f"not an ODM 1.3 document (root element {root.tag!r})")
    return root
