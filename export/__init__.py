"""catuvac.export"""
