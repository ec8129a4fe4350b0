"""Meter readings over MQTT: a subscriber that stores readings in batches, and a meter simulator.

Modules, one concern each:

* :mod:`~peergrid.service.mqtt.payload` — topics and payloads: validate a message into readings;
* :mod:`~peergrid.service.mqtt.credentials` — meter passwords, signing keys, signatures, the service secret;
* :mod:`~peergrid.service.mqtt.url` — broker URLs (``mqtt://``, ``mqtts://``) and their TLS context;
* :mod:`~peergrid.service.mqtt.wire` — a lean MQTT 5 client (the socket loop);
* :mod:`~peergrid.service.mqtt.ingest` — the :class:`~peergrid.service.mqtt.ingest.Ingestor`: verify, store in
  batches, acknowledge after commit, keep dead letters;
* :mod:`~peergrid.service.mqtt.dead_letters` — list and purge the kept dead letters;
* :mod:`~peergrid.service.mqtt.hook` — :func:`mount`: one ingestor per database with the service app, and the
  operators' routes ``/mqtt/stats`` and ``/mqtt/dead-letters``;
* :mod:`~peergrid.service.mqtt.publisher` and :mod:`~peergrid.service.mqtt.simulator` — a QoS 1 publisher and
  the meter simulator (energy from :class:`peergrid.data.meter_profiles.MeterProfiles`).

Topic and payload
-----------------
Each meter publishes with **QoS 1** on ``peergrid/<community id>/<meter serial>/reading``
a JSON object (or, for a backlog, a JSON array of up to :data:`~peergrid.service.mqtt.payload.MAX_ITEMS` objects)::

    {"ts": "2026-06-01T12:00:00Z", "import_wh": 120, "export_wh": 0, "pv_wh": 35,
     "seq": 1780315200000, "sig": "3vjgsHa4f3Pz5DGigmYMB-GK9RtMg_zRabiGj6tspKY"}

``ts`` is the aware start of the metering period (whole seconds); ``import_wh``/``export_wh``
are the integer Wh that flowed from/to the grid in that period (sign convention of
:mod:`peergrid.service.metering`: net = import − export); ``pv_wh`` (optional) is the PV
generation; ``seq`` is the meter's sequence number (an integer 1..2⁶³−1, strictly increasing
per meter: a millisecond Unix time works); ``sig`` signs all of it. Unknown keys are an
error, and so is the old ``token`` field (a secret that travelled in every message).

Signature
---------
A meter's signing key is ``HMAC-SHA256(secret, "sign/<community id>/<serial>")``
(:func:`~peergrid.service.mqtt.credentials.meter_signing_key`, 32 bytes; ``peergrid meters tokens``
prints it in URL-safe base64 without padding) with the service secret kept in the
``service_config`` table (:data:`~peergrid.service.mqtt.credentials.SECRET_KEY`). The key never
travels over MQTT. ``sig`` is the URL-safe base64 (no padding, 43 characters) of
``HMAC-SHA256(key, canonical)`` where ``canonical`` is the UTF-8 text
(:func:`~peergrid.service.mqtt.credentials.canonical_reading`)::

    v1|<community id>|<serial>|<ts as Unix seconds>|<import_wh>|<export_wh>|<pv_wh or ->|<seq>

integers in decimal without sign (except a negative time), leading zeros or spaces, ``-``
when there is no ``pv_wh``. Example: secret ``"example-secret"``, community 7, serial
``M-01``, ``ts`` 2026-06-01T12:00:00Z, 120 Wh imported, 0 exported, PV 35 Wh, seq
1780315200000::

    key       = KvKAwEHcGmPKSUoMJcbpqctxabRzk76Ww3j_WA7Uh-Q
    canonical = v1|7|M-01|1780315200|120|0|35|1780315200000
    sig       = 3vjgsHa4f3Pz5DGigmYMB-GK9RtMg_zRabiGj6tspKY

The MQTT password of the meter (broker authentication) is a different value,
:func:`~peergrid.service.mqtt.credentials.meter_token`. Rotating the secret revokes every key and password at once.

Delivery guarantees
-------------------
* A message that fails to parse, carries a bad signature, replays a sequence number, or
  raises anywhere is **counted** (:attr:`Ingestor.stats <peergrid.service.mqtt.ingest.Ingestor.stats>`), **kept** in the
  ``mqtt_dead_letters`` table for the operator (rate-limited, truncated, bounded in rows),
  **acknowledged**, and ingestion goes on. Readings of unknown meters, older than the
  out-of-order window, in the future, of already-settled intervals or breaking the
  plausibility rules of :func:`peergrid.service.metering.store_readings` are rejected and
  counted, never stored.
* Replays: a reading is accepted only if its ``seq`` is above the highest accepted one of
  its meter (``meters.mqtt_seq``, advanced in the transaction that stores the readings).
* Messages are read with :mod:`peergrid.service.mqtt.wire` (a lean MQTT 5 client that hands
  over every PUBLISH of a socket read as one batch) and stored by
  :func:`peergrid.service.metering.store_readings` (the storage behind every transport;
  COPY on PostgreSQL) in **batches** (up to ``batch_size`` readings or
  ``flush_s`` seconds), one database transaction per batch.
* The broker's QoS 1 message is acknowledged only **after** the batch is committed
  (manual acks, MQTT 5 with a persistent session and a large receive maximum): a
  crash between receipt and commit makes the broker deliver the message again (its
  ``seq`` was not advanced, so it is accepted); a redelivery of a committed message is
  refused as a ``replay``.
* The client reconnects after a broker restart (exponential back-off up to
  ``reconnect_max_s``); the broker keeps the session's unacknowledged and queued QoS 1
  messages (with ``persistence true`` also across its own restart) and delivers them.
* Backpressure: when more than ``max_pending`` readings wait for the database the
  network thread blocks, TCP flow control slows the broker down, and no message is
  dropped by the ingestor.
"""

from peergrid.service.mqtt.hook import mount

__all__ = ["mount"]
