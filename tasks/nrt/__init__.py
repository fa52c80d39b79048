"""Near-real-time analysis of every frame: calibrated, measured and searched in seconds.

Pure modules (no Prefect, no database) first:

- :mod:`~tasks.nrt.catalog`: the reference catalog's queries, cached per consumer (the catalog
  itself is an :class:`infra.refcat.ReferenceCatalog` the consumer is handed);
- :mod:`~tasks.nrt.frame`: a calibrated frame and what the analysis needs from its header;
- :mod:`~tasks.nrt.snr`: THE definition of signal-to-noise (optimal aperture), limiting flux;
- :mod:`~tasks.nrt.engines`: the extraction engines (SEP or photutils) behind one interface;
- :mod:`~tasks.nrt.extract`: background, detection and aperture photometry;
- :mod:`~tasks.nrt.astrometry`: matching detections to the catalog from the header WCS, WCS fit;
- :mod:`~tasks.nrt.photcal`: zero point, FWHM, limiting magnitude;
- :mod:`~tasks.nrt.measured`: a frame once measured, as the candidate searches read it;
- :mod:`~tasks.nrt.candidates`: sources absent from the catalog, sources at the alert's position;
- :mod:`~tasks.nrt.psf`, :mod:`~tasks.nrt.scene`, :mod:`~tasks.nrt.alert_search`: the alert
  region fitted source by source (transients merged with a star);
- :mod:`~tasks.nrt.lightcurve`: candidates linked across the frames of a sequence;
- :mod:`~tasks.nrt.pipeline`: one frame end to end;

then the database side: :mod:`~tasks.nrt.analysis_rows` (rows, events),
:mod:`~tasks.nrt.consumer` (the long-lived loop) and :mod:`~tasks.nrt.consumer_run` (a consumer
wired from the configuration and run), and the thin Prefect tasks in
:mod:`~tasks.nrt.prefect_tasks`. See ``docs/nrt.md``.
"""
