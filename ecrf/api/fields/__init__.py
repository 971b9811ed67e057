"""The API's serialisers: one module per resource, each turning a document or stored dict into the JSON the
API shows (as udata's ``api_fields``). Models know nothing of this layer."""
