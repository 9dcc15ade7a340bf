#!/bin/bash
# collects triage data
echo "triage $1"
