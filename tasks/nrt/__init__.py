"""Near-real-time analysis of every frame (issue 9): calibrated, measured and searched in seconds.

Pure modules (no Prefect, no database) first:

- :mod:`~tasks.nrt.catalog`: the :class:`ReferenceCatalog` protocol and a per-consumer cache;
- :mod:`~tasks.nrt.frame`: a calibrated frame and what the analysis needs from its header;
- :mod:`~tasks.nrt.snr`: THE definition of signal-to-noise (optimal aperture), limiting flux;
- :mod:`~tasks.nrt.extract`: background, detection and aperture photometry (SEP or photutils);
- :mod:`~tasks.nrt.astrometry`: matching detections to the catalog from the header WCS, WCS fit;
- :mod:`~tasks.nrt.photcal`: zero point, FWHM, limiting magnitude;
- :mod:`~tasks.nrt.candidates`: sources absent from the catalog, sources at the alert's position;
- :mod:`~tasks.nrt.lightcurve`: candidates linked across the frames of a sequence;
- :mod:`~tasks.nrt.pipeline`: one frame end to end;

then the database side: :mod:`~tasks.nrt.analysis_rows` (rows, events) and
:mod:`~tasks.nrt.consumer` (the long-lived loop), and the thin Prefect tasks in
:mod:`~tasks.nrt.prefect_tasks`. See ``docs/nrt.md``.
"""
