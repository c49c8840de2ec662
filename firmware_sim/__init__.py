"""catuvac.firmware_sim"""
