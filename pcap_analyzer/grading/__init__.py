"""Grading TCP lab submissions, in the pieces :mod:`pcap_analyzer.check` puts together.

* :mod:`.rubric`: what is graded and what a finding counts for (TOML rubric files);
* :mod:`.conversation`: the graded stream's frames and the views the checks share;
* :mod:`.items`: one function per rubric item, each a verdict, one line of evidence, its frames;
* :mod:`.answers`: the lab's questions answered, as a good student would;
* :mod:`.wire`: what only the captured bytes hold (TTL, TCP options, header lengths);
* :mod:`.capture_point`: segmentation offload and a local proxy or NAT, told from the frames;
* :mod:`.sheet`: the grade sheet's row, safe to open in a spreadsheet;
* :mod:`.copies`: submissions that are the same capture;
* :mod:`.feedback`: a short markdown note per submission.
"""
