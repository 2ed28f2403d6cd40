"""Generated datasets on disk: where they live, their manifest and checksums, and the shared HDF5 split layout."""
