"""Many-shot datasets: NXmx HDF5 shards (`nexus`), a resumable Dask job (`job`) and the
``nanoBragg-dataset`` command line (`cli`).  Rendering itself is `nanobrag_torch.many`."""
