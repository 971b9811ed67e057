"""audit.prefetch.scan on the real wire server: raw batches read ahead, in the order asked for."""

import random
import uuid

import pymongo
import pytest

from audit.prefetch import BATCH, scan


@pytest.fixture
def collection(wire_uri):
    client = pymongo.MongoClient(wire_uri)
    name = f"prefetch_{uuid.uuid4().hex[:8]}"
    yield client[name]["items"]
    client.drop_database(name)
    client.close()


def test_a_scan_hinted_to_the_id_index_brings_every_document_in_id_order_across_batches(collection):
    ids = [f"record/S/{n:05d}/E/F" for n in range(BATCH * 2 + 17)]
    shuffled = random.Random(7).sample(ids, len(ids))  # stored out of order: only the index walk sorts them
    collection.insert_many([{"_id": key, "n": position} for position, key in enumerate(shuffled)])
    order = [("_id", 1)]
    assert [document["_id"] for document in scan(collection, {}, order, hint=order)] == ids


def test_a_hinted_scan_brings_the_same_documents_as_an_unhinted_one(collection):
    collection.insert_many([{"_id": f"k{n:04d}", "data": {"v": n}} for n in reversed(range(300))])
    order = [("_id", 1)]
    assert list(scan(collection, {}, order, hint=order)) == list(scan(collection, {}, order))
