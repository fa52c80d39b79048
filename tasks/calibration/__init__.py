"""Calibration: bias, dark and flat masters, and the calibration of science frames.

- :mod:`~tasks.calibration.frames`: input frames opened once, checked, read in row bands;
- :mod:`~tasks.calibration.combine`: sigma-clipped combine reading each input once, memory-bound;
- :mod:`~tasks.calibration.masters`: building masters (pure); ``masterfiles``: their files;
- :mod:`~tasks.calibration.master_registry`: master rows, the choice of masters for a night;
- :mod:`~tasks.calibration.science`: ccdproc calibration of a frame, provenance, the master cache;
- :mod:`~tasks.calibration.service`: the above with the database and the files (CLI, flows);
- :mod:`~tasks.calibration.calibrator`: ``ScienceCalibrator`` for the NRT consumer;
- :mod:`~tasks.calibration.acquisition`: what the ``calibrate`` deployment takes, and the hook
  where camera acquisition plugs in;
- :mod:`~tasks.calibration.camera_acquisition`: the frames taken with the cameras through their
  gateways (the installation's acquisition);
- :mod:`~tasks.calibration.prefect_tasks`: thin Prefect tasks.

See ``docs/calibration.md``.
"""
