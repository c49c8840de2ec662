"""catuvac.runtime"""
